"""Figures the reliability scenarios measure, for docs/RELIABILITY.md.

Each scenario prints one line ``RELIABILITY <scenario> {json}`` past pytest's capture, and
appends the same JSON to ``$SOLEFLIP_RELIABILITY_FIGURES`` when that is set, so the
document's numbers come from a run anyone can repeat.
"""

from __future__ import annotations

import json
import os

import pytest

FIGURES_ENV = "SOLEFLIP_RELIABILITY_FIGURES"


def report(capsys: pytest.CaptureFixture[str], scenario: str, **figures: object) -> None:
    line = json.dumps({"scenario": scenario, **figures}, default=str, sort_keys=True)
    with capsys.disabled():
        print(f"\nRELIABILITY {line}")
    target = os.environ.get(FIGURES_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
