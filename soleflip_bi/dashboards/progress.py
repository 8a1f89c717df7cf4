"""What a push has done so far, so that a failure can say where it stopped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

CHANGES = ("created", "laid out", "updated", "archived", "synced")


@dataclass
class Progress:
    steps: list[tuple[str, str]] = field(default_factory=list)

    def record(self, action: str, subject: str) -> None:
        """``action`` is one of CHANGES, or "found" / "unchanged" for things left alone."""
        self.steps.append((action, subject))

    def counts(self) -> Counter[str]:
        return Counter(action for action, _subject in self.steps)

    def lines(self) -> list[str]:
        return [f"{action} {subject}" for action, subject in self.steps]

    def changes(self) -> list[str]:
        return [f"{action} {subject}" for action, subject in self.steps if action in CHANGES]


class PushFailed(RuntimeError):
    """A push stopped part-way; the message says why and what had been done by then."""

    def __init__(self, cause: Exception, progress: Progress, verb: str = "push") -> None:
        self.cause, self.progress = cause, progress
        done = progress.lines()
        if verb != "push":
            super().__init__(f"Metabase {verb} stopped: {cause}")
            return
        summary = "\n".join(f"  - {line}" for line in done) if done else "  (nothing)"
        super().__init__(f"Metabase push stopped: {cause}\ndone before it stopped:\n{summary}")
