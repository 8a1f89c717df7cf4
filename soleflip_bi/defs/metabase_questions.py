"""The analysts' own Metabase questions, downstream of the views they read: read from
Metabase when the code location loads (``dashboards/questions.py``)."""

import dagster as dg

from soleflip_bi.dashboards.questions import QuestionsLoader


@dg.definitions
def defs() -> dg.Definitions:
    return QuestionsLoader().build_defs()
