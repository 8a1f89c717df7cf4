"""What the project records about its own work: refresh log, baselines, locks."""
