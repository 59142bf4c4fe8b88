"""Docs are tested: every CLI command and every setting appears in README.md or docs/*.md."""

from __future__ import annotations

from pathlib import Path

import typer

from hanlin.cli.main import app
from hanlin.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def _docs() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _commands(t: typer.Typer, prefix: str = "hanlin") -> list[str]:
    out = []
    for cmd in t.registered_commands:
        if cmd.hidden:  # e.g. `formula run`, reached as `hanlin formula REQUEST`
            continue
        name = cmd.name or (cmd.callback.__name__.replace("_", "-") if cmd.callback else "")
        out.append(f"{prefix} {name}")
    for group in t.registered_groups:
        sub = group.typer_instance
        name = group.name or (sub.info.name if sub.info.name else "")
        out.append(f"{prefix} {name}")
        out.extend(_commands(sub, f"{prefix} {name}"))
    return out


def test_every_cli_command_is_documented() -> None:
    docs = _docs()
    missing = [c for c in _commands(app) if c not in docs]
    assert not missing, f"commands missing from README.md/docs: {missing}"


def test_every_setting_is_documented() -> None:
    docs = _docs()
    names = []
    for field_name, info in Settings.model_fields.items():
        env = info.alias or f"HANLIN_{field_name.upper()}"
        names.append(env)
    missing = [n for n in names if n not in docs]
    assert not missing, f"settings missing from README.md/docs: {missing}"
