"""The cleaned layer: stored order and stock facts and the source quality issues."""

import dagster as dg

from soleflip_bi.cleaned.assets import cleaned_layer

defs = dg.Definitions(assets=[cleaned_layer])
