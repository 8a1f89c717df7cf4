"""The code location, one module per domain; ``load_from_defs_folder`` gathers them."""
