"""Every eval suite, imported statically: importing this module registers them all (``@suite`` in each)."""

from __future__ import annotations

from hanlin.evals import mcq, minutes, rag, spreadsheet
from hanlin.evals.base import SUITES, SuiteSpec, get_suite

MODULES = (mcq, minutes, spreadsheet, rag)  # ceval/cmmlu/fewclue; vcsum/qmsum; spreadsheetbench/nvbench; rgb/cmrc


def load_suites() -> dict[str, SuiteSpec]:
    return SUITES


__all__ = ["MODULES", "get_suite", "load_suites"]
