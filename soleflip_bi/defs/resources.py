"""What every domain shares: the shop database and how runs execute."""

import dagster as dg

from soleflip_bi.database.resource import PostgresResource

defs = dg.Definitions(
    resources={"postgres": PostgresResource()},
    # Refreshes are SQL running in PostgreSQL: one process per run is enough, and it
    # keeps the latency from an order to its view low.
    executor=dg.in_process_executor,
)
