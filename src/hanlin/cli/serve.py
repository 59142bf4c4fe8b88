"""`hanlin serve`: the API at /v1 and the console at /."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hanlin.cli.common import ensure_model_file, err_console, settings_from


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        model: Annotated[str | None, typer.Option(help="model to serve by default (HANLIN_MODEL)")] = None,
        host: Annotated[str | None, typer.Option(help="bind address (HANLIN_HOST); non-loopback turns auth on")] = None,
        port: Annotated[int | None, typer.Option(help="port (HANLIN_PORT)")] = None,
        parallel: Annotated[int | None, typer.Option(help="parallel slots (HANLIN_PARALLEL)")] = None,
        threads: Annotated[int | None, typer.Option(help="llama.cpp threads, ≤ usable cores (HANLIN_THREADS)")] = None,
        config: Annotated[Path | None, typer.Option("--config", help="YAML with upstream engines and pools")] = None,
        no_preload: Annotated[bool, typer.Option("--no-preload", help="load the model on first request")] = False,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="print where memory goes once the model is "
                                                                       "loaded (also in GET /health)")] = False,
    ) -> None:
        """Serve the OpenAI-compatible API (/v1) and the web console (/)."""
        import uvicorn

        from hanlin.api.app import create_app
        from hanlin.services import build_services

        settings = settings_from(model=model, host=host, port=port, parallel=parallel, threads=threads,
                                 config_file=config)
        if settings.config_file and not no_preload:  # a pool from the config file has nothing to load here
            from hanlin.engine.config_file import load_config

            no_preload = settings.model in {p.name for p in load_config(settings.config_file).pools}
        if not no_preload:
            ensure_model_file(settings, settings.model)
        services = build_services(settings)
        if not no_preload:
            err_console.print(f"loading [bold]{settings.model}[/] ({settings.parallel} slots, "
                              f"{settings.n_threads} threads)…")

            async def preload() -> None:
                await services.engines.load(settings.model)
                if verbose:
                    print_memory(services.engines.loaded())
            services.startup.insert(0, preload)
        auth = "on" if settings.auth_required else "off (loopback only)"
        err_console.print(f"Hanlin on http://{settings.host}:{settings.port}  ·  API /v1  ·  console /  ·  "
                          f"auth {auth}  ·  home {settings.home}")
        uvicorn.run(create_app(settings, services), host=settings.host, port=settings.port,
                    log_level=settings.log_level, timeout_graceful_shutdown=5)


def print_memory(engines: dict[str, Any]) -> None:
    """The memory breakdown of /health as a table on stderr."""
    from rich.table import Table

    from hanlin.engine.embedder import resident_bytes
    from hanlin.engine.memory import breakdown

    mem = breakdown(engines, embedder_bytes=resident_bytes())
    table = Table(title="memory (MB)", show_header=True)
    for col in ("part", "MB", "what"):
        table.add_column(col)
    for name, m in mem["models"].items():
        table.add_row(f"{name} weights", f"{m['weights_mb']:.0f}", "GGUF, memory-mapped (file-backed RSS)")
        table.add_row(f"{name} KV cache", f"{m['kv_cache_mb']:.0f}",
                      f"{m['slots']} slots × {m['kv_per_slot_mb']:.0f} MB ({m['ctx_per_slot']} tokens each, f16)")
        table.add_row(f"{name} prompt cache", f"≤ {m['prompt_cache_max_mb']}", "HANLIN_PROMPT_CACHE_MIB")
    table.add_row("embedder (e5)", f"{mem['embedder_mb']:.0f}", "loaded on first use")
    table.add_row("Python and other heap", f"{mem['python_and_other_anon_mb']:.0f}", "anon RSS not accounted above: Python, llama.cpp compute buffers")
    table.add_row("process RSS", f"{mem['rss_mb']:.0f}", f"anon {mem['anon_mb']:.0f} + file {mem['file_mb']:.0f}")
    err_console.print(table)
