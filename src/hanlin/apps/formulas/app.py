"""Service object for the formula app (used by the REST router; the CLI builds the same pieces directly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hanlin.apps.formulas.explain import explain
from hanlin.apps.formulas.generate import FormulaGenerator, FormulaResult, write_output
from hanlin.apps.formulas.workbook import load_workbook_info
from hanlin.engine.manager import EngineManager
from hanlin.principal import Principal

APP_SCOPE = "app:formula"


class FormulaService:
    def __init__(self, engines: EngineManager) -> None:
        self.engines = engines

    async def generate(self, request: str, path: Path, *, principal: Principal, sheet_name: str | None = None,
                       target: str | None = None, model: str | None = None, lang: str = "zh",
                       write_to: Path | None = None) -> FormulaResult:
        engine = await self.engines.get(model, principal=principal, app=APP_SCOPE)
        result = await FormulaGenerator(engine, lang=lang).generate(request, path, sheet_name, target)
        if write_to is not None and result.formula:
            result.output = write_output(result, load_workbook_info(path), write_to, label=request)
        return result

    def explain(self, formula: str, lang: str = "zh", path: Path | None = None) -> dict[str, Any]:
        info = load_workbook_info(path) if path else None
        return explain(formula, lang, info)

