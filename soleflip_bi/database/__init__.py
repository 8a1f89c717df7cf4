"""Connecting to PostgreSQL: the embedded server, URLs and the Dagster resource."""
