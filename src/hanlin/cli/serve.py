"""`hanlin serve`: the API at /v1 and the console at /."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
            services.startup.insert(0, preload)
        auth = "on" if settings.auth_required else "off (loopback only)"
        err_console.print(f"Hanlin on http://{settings.host}:{settings.port}  ·  API /v1  ·  console /  ·  "
                          f"auth {auth}  ·  home {settings.home}")
        uvicorn.run(create_app(settings, services), host=settings.host, port=settings.port,
                    log_level=settings.log_level, timeout_graceful_shutdown=5)
