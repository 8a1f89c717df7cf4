"""The Metabase questions a pending change to a view would break, named before the change
is applied.

A view's new columns are the registry's (its ``.columns.toml``, which the tests hold
equal to what the SQL builds); its live columns are the database's. A question breaks
when it uses a column the rebuild drops or renames, or whose type changes, or reads a view
that is dropped. A column added breaks nothing. `views plan` lists the breaks and exits
2; `views refresh` and every Dagster run refuse such a rebuild unless forced (``--force``,
or the run tag ``FORCE_TAG``), in one sentence that names the questions; the old view
stays as it was.

Decided: when Metabase is configured but cannot be asked (down, refused), a rebuild goes
ahead with a warning: a BI tool's outage does not hold back the views it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from soleflip_bi.metabase.questions import Question, Questions
from soleflip_bi.views.registry import ViewSpec

# A run with this tag set to "true" rebuilds a view even though Metabase questions read
# columns the rebuild changes (`views refresh --force` sets it; so can a launch in the UI).
FORCE_TAG = "soleflip/break_metabase_questions"

Columns = Sequence[tuple[str, str]]  # (name, type) in order


class BreaksQuestions(RuntimeError):
    """A rebuild would break Metabase questions; the message names them."""


@dataclass(frozen=True)
class Break:
    question: Question
    view: str
    column: str | None  # None: the view itself
    change: str

    def line(self) -> str:
        what = f"{self.view}.{self.column}" if self.column else self.view
        return f"{self.question.label} reads {what}, which {self.change}"


def column_changes(live: Columns, new: Columns | None) -> dict[str | None, str]:
    """What a rebuild from ``new`` (None: a drop) does to each live column it changes."""
    if new is None:
        return {None: "is dropped"}
    now = dict(new)
    added = [name for name in now if name not in dict(live)]
    gone = f"is dropped or renamed (the rebuild adds {', '.join(added)})" if added else "is dropped"
    changes: dict[str | None, str] = {}
    for name, data_type in live:
        if name not in now:
            changes[name] = gone
        elif now[name] != data_type:
            changes[name] = f"changes type from {data_type} to {now[name]}"
    return changes


def breaks(questions: Questions, view: str, live: Columns, new: Columns | None) -> list[Break]:
    """The questions of ``questions`` that a rebuild of ``view`` from ``new`` breaks."""
    changes = column_changes(live, new)
    found = []
    for question in questions.reading(view):
        if None in changes:
            found.append(Break(question, view, None, changes[None]))
            continue
        found += [
            Break(question, view, column, changes[column])
            for column in sorted(question.reads[view])
            if column in changes
        ]
    return found


def registry_columns(spec: ViewSpec) -> Columns:
    return tuple((column.name, column.type) for column in spec.columns)


def refusal(found: list[Break], how_to_force: str, verb: str = "rebuilding") -> str:
    """The one sentence that refuses the rebuilds (or drops) that break ``found``."""
    views = sorted({b.view for b in found})
    questions = {b.question.id for b in found}
    return (
        f"{verb} {', '.join(views)} would break {len(questions)} Metabase question(s): "
        + "; ".join(b.line() for b in found)
        + f". Change them in Metabase first, or {how_to_force}"
    )


def guard(
    questions: Callable[[], Questions | None], how_to_force: str
) -> Callable[[ViewSpec, Columns], None]:
    """A check to run before a rebuild: raise ``BreaksQuestions`` when the rebuild of the
    view from the registry would break a question. ``questions`` is asked only then."""

    def check(spec: ViewSpec, live: Columns) -> None:
        found_questions = questions()
        if found_questions is None:
            return
        found = breaks(found_questions, spec.name, live, registry_columns(spec))
        if found:
            raise BreaksQuestions(refusal(found, how_to_force))

    return check
