"""Entry point of the ``soleflip-bi`` console script.

Errors a user can cause are turned into one sentence and exit status 2 (1 for
``dashboards plan``, whose 2 means "changes pending"); anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import sys

import psycopg

from soleflip_bi.cleaned.rates_upgrade import RatesUpgradeBlocked
from soleflip_bi.cli import dashboards, db, demo, migrate, rates, views
from soleflip_bi.cli.demo import DemoRefused
from soleflip_bi.dashboards.export import ExportFailed
from soleflip_bi.dashboards.ledger import LedgerNotWritten
from soleflip_bi.dashboards.plan import EditedInMetabase
from soleflip_bi.dashboards.progress import PushFailed
from soleflip_bi.database.connection import DatabaseUrlError
from soleflip_bi.database.embedded import EmbeddedServerError
from soleflip_bi.database.errors import RefreshWaitError
from soleflip_bi.metabase.client import MetabaseError
from soleflip_bi.metabase.versions import UnsupportedMetabase
from soleflip_bi.sources.demo import DemoLoadRefused
from soleflip_bi.views.cron_site import PgCronError
from soleflip_bi.views.errors import RefreshFailed
from soleflip_bi.views.readers import BreaksQuestions

USER_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseUrlError,
    DemoLoadRefused,
    DemoRefused,
    RefreshFailed,
    RefreshWaitError,
    PgCronError,
    RatesUpgradeBlocked,
    PushFailed,
    BreaksQuestions,
    MetabaseError,
    EditedInMetabase,
    UnsupportedMetabase,
    ExportFailed,
    LedgerNotWritten,
    EmbeddedServerError,
    psycopg.OperationalError,
    ValueError,
    LookupError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="soleflip-bi", description="SoleFlip analytics views, run by Dagster."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for group in _command_groups():
        group.register(commands)
    return parser


def _command_groups() -> list:
    return [db, demo, views, rates, dashboards, migrate]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except USER_ERRORS as exc:
        print(f"soleflip-bi: error: {exc}", file=sys.stderr)
        return int(getattr(args, "error_status", 2))


if __name__ == "__main__":
    sys.exit(main())
