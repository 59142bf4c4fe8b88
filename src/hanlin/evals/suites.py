"""Every eval suite, imported statically: importing this module registers them all (``@suite`` in each)."""

from __future__ import annotations

from hanlin.evals import gold, mcq, minutes, minutes_gold, rag, spreadsheet
from hanlin.evals.base import SUITES, SuiteSpec, get_suite

# ceval/cmmlu/fewclue; vcsum/qmsum; minutes-gold; spreadsheetbench/nvbench; rgb/cmrc;
# kb-gold/gongwen/ads/formulas-gold
MODULES = (mcq, minutes, minutes_gold, spreadsheet, rag, gold)


def load_suites() -> dict[str, SuiteSpec]:
    return SUITES


__all__ = ["MODULES", "get_suite", "load_suites"]
