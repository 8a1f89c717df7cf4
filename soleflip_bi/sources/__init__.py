"""The operational tables the views read: their schema, their catalogue, demo data."""
