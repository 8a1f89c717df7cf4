"""The marker in the description of every card and dashboard `dashboards push` manages:
how a push finds its own objects again, and how the questions read back leave them out."""

from __future__ import annotations

import re

MARKER = re.compile(r"Managed by soleflip-bi \(`([^`]+)`\)")


def managed_key(description: str | None) -> str | None:
    match = MARKER.search(description or "")
    return match.group(1) if match else None
