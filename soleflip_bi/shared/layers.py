"""The order of the layers, bottom first: a module imports only from its own package and
from layers below it (``soleflip_bi_tests/test_layers.py`` enforces this).

Packages on one line are siblings: neither may import the other.
"""

from __future__ import annotations

LAYERS: tuple[tuple[str, ...], ...] = (
    ("soleflip_bi.shared",),
    ("soleflip_bi.database",),
    (
        "soleflip_bi.bookkeeping",
        "soleflip_bi.roles",
        "soleflip_bi.instance",
        "soleflip_bi.metabase",
    ),
    ("soleflip_bi.sources",),
    ("soleflip_bi.capture",),
    ("soleflip_bi.cleaned",),
    ("soleflip_bi.views",),
    ("soleflip_bi.automation",),
    ("soleflip_bi.dashboards",),
    ("soleflip_bi.defs",),
    ("soleflip_bi.definitions",),
    ("soleflip_bi.cli",),
)


def layer_of(module: str) -> tuple[int, str] | None:
    """(rank, package) of a module of the project; ``None`` for anything else."""
    for rank, packages in enumerate(LAYERS):
        for package in packages:
            if module == package or module.startswith(package + "."):
                return rank, package
    return None
