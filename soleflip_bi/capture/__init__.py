"""Change capture: the log of source writes that the sensors and the facts read."""
