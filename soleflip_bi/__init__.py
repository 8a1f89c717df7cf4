"""soleflip-bi: the Dagster code location behind SoleFlip's analytics views."""
