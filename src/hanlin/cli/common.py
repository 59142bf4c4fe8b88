"""Shared CLI plumbing: stderr console, progress bars, JSON output, an engine for in-process app commands."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hanlin.config import Settings
from hanlin.engine.base import Engine
from hanlin.errors import HanlinError

err_console = Console(stderr=True)
out_console = Console()
T = TypeVar("T")


def settings_from(**overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; HanlinErrors become a clean message and exit code 1."""
    try:
        return asyncio.run(coro)
    except HanlinError as e:
        raise fail(e.message) from None


def progress_bar(transient: bool = True, bytes_mode: bool = False) -> Progress:
    cols: list[Any] = [TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn()]
    if bytes_mode:
        cols.append(DownloadColumn())
    cols += [TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*cols, console=err_console, transient=transient)


@contextmanager
def stage_progress(description: str) -> Iterator[Any]:
    """A bar for staged app work: call ``update(fraction, stage)``."""
    with progress_bar() as bar:
        task = bar.add_task(description, total=1.0)

        def update(fraction: float, stage: str = "") -> None:
            bar.update(task, completed=fraction, description=f"{description} · {stage}" if stage else description)
        yield update


def ensure_model_file(settings: Settings, name: str) -> Any:
    """Resolve a model; assemble an embedded one with a progress bar on first use."""
    from hanlin.engine.manager import model_path_for
    from hanlin.models import embedded
    from hanlin.models.registry import ModelRegistry

    spec = ModelRegistry(settings.home).resolve(name)
    if spec.kind == "embedded" and not embedded.is_assembled(settings.models_dir, spec):
        with progress_bar(bytes_mode=True) as bar:
            task = bar.add_task(f"assembling {spec.name}", total=spec.parts.size if spec.parts else 0)
            return spec, model_path_for(settings, spec, lambda done, total: bar.update(task, completed=done))
    return spec, (model_path_for(settings, spec) if spec.kind != "upstream" else None)


async def local_engine(settings: Settings, model: str | None, url: str | None = None) -> Engine:
    """An engine for app commands: a running Hanlin/OpenAI server when ``url`` (or HANLIN_URL) is set,
    else the model loaded in-process."""
    url = url or settings.url
    name = model or settings.model
    if url:
        from hanlin.engine.upstream import UpstreamEngine

        base = url.rstrip("/")
        base = base if base.endswith("/v1") else base + "/v1"
        return UpstreamEngine(name, base, api_key=settings.api_key)
    from hanlin.engine.manager import EngineManager
    from hanlin.principal import LOCAL_ADMIN

    ensure_model_file(settings, name)
    err_console.print(f"[dim]loading {name} ({settings.n_threads} threads)…[/]")
    return await EngineManager(settings).get(name, principal=LOCAL_ADMIN)  # the local user owns this machine
