"""The fast tier: pure logic only, no PostgreSQL and no Dagster instance.

Run it alone with ``pytest soleflip_bi_tests/unit``; it must pass with the embedded server
out of reach (``SOLEFLIP_EMBEDDED_DIR=/nonexistent/x``).
"""
