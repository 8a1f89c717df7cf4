"""Names every layer shares: schemas, the source catalogue, change streams, settings, layers."""
