"""`hanlin chat`: a streaming multi-turn REPL against the embedded model or a running server."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import typer

from hanlin.cli.common import err_console, local_engine, run, settings_from


async def _repl(model: str | None, url: str | None, system: str, max_tokens: int, once: str | None) -> None:
    settings = settings_from(model=model)
    engine = await local_engine(settings, model, url)
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    interactive = once is None and sys.stdin.isatty()
    if interactive:
        err_console.print("[dim]Type a message; /reset clears the history, /exit or Ctrl-D quits.[/]")
    while True:
        if once is not None:
            line = once
        else:
            try:
                line = await asyncio.to_thread(input, ">>> " if interactive else "")
            except EOFError:
                break
        line = line.strip()
        if not line:
            continue
        if line in ("/exit", "/quit"):
            break
        if line == "/reset":
            messages = messages[:1] if system else []
            continue
        messages.append({"role": "user", "content": line})
        reply = []
        async for chunk in engine.stream({"messages": messages, "max_tokens": max_tokens}):
            for choice in chunk.get("choices", []):
                piece = (choice.get("delta") or {}).get("content") or ""
                reply.append(piece)
                sys.stdout.write(piece)
                sys.stdout.flush()
        sys.stdout.write("\n")
        messages.append({"role": "assistant", "content": "".join(reply)})
        if once is not None:
            break
    await engine.close()


def register(app: typer.Typer) -> None:
    @app.command()
    def chat(
        model: Annotated[str | None, typer.Option(help="model name")] = None,
        url: Annotated[str | None, typer.Option(help="a running Hanlin server (else in-process)")] = None,
        system: Annotated[str, typer.Option(help="system prompt")] = "",
        max_tokens: Annotated[int, typer.Option(help="max tokens per reply")] = 1024,
        message: Annotated[str | None, typer.Option("-m", "--message", help="send one message and exit")] = None,
    ) -> None:
        """Chat with a model, streaming (multi-turn REPL)."""
        run(_repl(model, url, system, max_tokens, message))
