"""Service object for the formula app (used by the REST router; the CLI builds the same pieces directly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hanlin.apps.formulas.explain import explain
from hanlin.apps.formulas.generate import FormulaResult, make_formula, write_output
from hanlin.apps.formulas.workbook import load_workbook_info
from hanlin.engine.manager import EngineManager
from hanlin.limits import InputLimits, check_formula
from hanlin.offload import run_cpu
from hanlin.principal import Principal

APP_SCOPE = "app:formula"


class FormulaService:
    def __init__(self, engines: EngineManager, limits: InputLimits, work_timeout_s: float) -> None:
        self.engines, self.limits, self.work_timeout_s = engines, limits, work_timeout_s

    async def generate(self, request: str, path: Path, *, principal: Principal, sheet_name: str | None = None,
                       target: str | None = None, model: str | None = None, lang: str = "zh",
                       write_to: Path | None = None) -> FormulaResult:
        engine = await self.engines.get(model, principal=principal, app=APP_SCOPE)
        result = await make_formula(engine, request, path, sheet_name, target, lang=lang)
        if write_to is not None and result.formula:
            info = await run_cpu(load_workbook_info, path, timeout=self._timeout, what="reading the workbook")
            result.output = await run_cpu(write_output, result, info, write_to, label=request,
                                          timeout=self._timeout, what="writing the workbook")
        return result

    def explain(self, formula: str, lang: str = "zh", path: Path | None = None) -> dict[str, Any]:
        info = load_workbook_info(path) if path else None
        return explain(formula, lang, info)

    async def aexplain(self, formula: str, lang: str = "zh") -> dict[str, Any]:
        """:meth:`explain` in the CPU pool with a deadline (HANLIN_WORK_TIMEOUT_S)."""
        check_formula(formula, self.limits)
        return await run_cpu(explain, formula, lang, None, timeout=self._timeout, what="explaining the formula")

    @property
    def _timeout(self) -> float:
        return float(self.work_timeout_s)

