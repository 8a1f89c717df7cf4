"""The ``soleflip-bi`` command line: one module per command group."""
