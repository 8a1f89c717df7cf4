"""What the tests share: shops to test against, Dagster instances, order writers, the
sensor ticker and the role helpers. Test modules import from here, never from each other."""
