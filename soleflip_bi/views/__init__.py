"""The gold layer: the materialized views Metabase reads, their registry and their upkeep."""
