"""`hanlin tune create|list|show|events|cancel`: LoRA fine-tuning jobs, locally or on a server (--url)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer

from hanlin.cli.common import err_console, fail, out_console, print_json, progress_bar, settings_from
from hanlin.errors import HanlinError
from hanlin.principal import LOCAL_ADMIN, Principal

if TYPE_CHECKING:
    from hanlin.services import Services

tune_app = typer.Typer(help="Fine-tune a base model with LoRA and serve it as ft:NAME.", no_args_is_help=True)
TERMINAL = ("succeeded", "failed", "cancelled")
UrlOpt = Annotated[str | None, typer.Option("--url", help="a running Hanlin server (default: $HANLIN_URL, "
                                                          "else this machine's HANLIN_HOME in-process)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")]


class HttpTuning:
    """The same calls as TuningService, over the REST API."""

    def __init__(self, url: str, key: str = "") -> None:
        base = url.rstrip("/")
        base = base if base.endswith("/v1") else base + "/v1"
        self.http = httpx.Client(base_url=base + "/fine_tuning", timeout=120,
                                 headers={"Authorization": f"Bearer {key}"} if key else {})
        self.files_url = base + "/files"

    def _do(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        r = self.http.request(method, path, **kw)
        if r.status_code >= 400:
            try:
                msg = r.json()["error"]["message"]
            except Exception:
                msg = r.text
            raise HanlinError(f"HTTP {r.status_code}: {msg}")
        out: dict[str, Any] = r.json()
        return out

    def create(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        return self._do("POST", "/jobs", json=body)

    def upload(self, path: Path) -> str:
        """POST the local JSONL to the server's Files API (purpose fine-tune); the job then names its id."""
        with path.open("rb") as f:
            out = self._do("POST", self.files_url, files={"file": (path.name, f, "application/jsonl")},
                           data={"purpose": "fine-tune"})
        return str(out["id"])

    def list(self, tenant: str | None, limit: int = 20) -> dict[str, Any]:
        return self._do("GET", "/jobs", params={"limit": limit})

    def get(self, job_id: str, tenant: str | None) -> dict[str, Any]:
        return self._do("GET", f"/jobs/{job_id}")

    def events(self, job_id: str, tenant: str | None, after: str | None = None, limit: int = 20,
               order: str = "desc") -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "order": order}
        if after:
            params["after"] = after
        return self._do("GET", f"/jobs/{job_id}/events", params=params)

    def cancel(self, job_id: str, tenant: str | None) -> dict[str, Any]:
        return self._do("POST", f"/jobs/{job_id}/cancel")


def _client(url: str | None) -> tuple[Any, Services | None]:
    settings = settings_from()
    url = url or settings.url
    if url:
        return HttpTuning(url, settings.api_key), None
    from hanlin.services import build_services  # the whole server's wiring: only when training here

    services = build_services(settings)
    return services.tuning, services


def _read_body(base: str | None, data: Path, val: Path | None, epochs: int | None, rank: int | None,
               lr: float | None, name: str | None, max_steps: int | None) -> dict[str, Any]:
    hyper = {"n_epochs": epochs, "rank": rank, "learning_rate": lr, "max_steps": max_steps}
    for path in (data, val):
        if path is not None and not path.is_file():
            raise fail(f"No file at {path}")
    return {"model": base, "suffix": name, "hyperparameters": {k: v for k, v in hyper.items() if v is not None}}


def _upload(client: Any, services: Services | None, body: dict[str, Any], data: Path, val: Path | None) -> None:
    """Upload the user's local files (to the server's Files API, or this HANLIN_HOME's file store) and name them
    by id: the server never reads a path a client gives it."""
    for key, path in (("training_file", data), ("validation_file", val)):
        if path is None:
            continue
        if services is None or services.files is None:
            body[key] = client.upload(path)
        else:
            with path.open("rb") as f:
                body[key] = services.files.create(LOCAL_ADMIN.tenant_id, path.name, "fine-tune", f)["id"]


def follow(client: Any, job_id: str, tenant: str | None, quiet: bool = False) -> dict[str, Any]:
    """Poll the job, printing its events and a bar with step, loss and ETA until it ends."""
    last: str | None = None
    with progress_bar(transient=True) as bar:
        task = bar.add_task("fine-tuning", total=1.0)
        while True:
            job = client.get(job_id, tenant)
            events = client.events(job_id, tenant, after=last, limit=200, order="asc")["data"]
            for ev in events:
                last = ev["id"]
                if not quiet and ev.get("type") != "metrics" or "val_loss" in (ev.get("data") or {}):
                    bar.console.print(f"[dim]{time.strftime('%H:%M:%S', time.localtime(ev['created_at']))}[/] "
                                      f"{ev['message']}")
            bar.update(task, completed=job.get("progress") or 0.0, description=f"fine-tuning · {job.get('stage')}")
            if job["status"] in TERMINAL:
                return job
            time.sleep(1.0)


def _summary(job: dict[str, Any]) -> None:
    status = job["status"]
    color = {"succeeded": "green", "failed": "red"}.get(status, "yellow")
    out_console.print(f"[bold]{job['id']}[/] [{color}]{status}[/]  base={job['model']}  "
                      f"model={job.get('fine_tuned_model') or '-'}")
    m = job.get("metrics") or {}
    if m:
        out_console.print(f"  train loss {m.get('first_train_loss')} → {m.get('train_loss')}   "
                          f"val loss {m.get('val_loss_before')} → {m.get('val_loss')}   "
                          f"{m.get('steps')} steps, {m.get('s_per_step')} s/step, {m.get('train_s')} s")
    if job.get("error"):
        out_console.print(f"  [red]{job['error']['message']}[/]")


@tune_app.command()
def create(
    data: Annotated[Path, typer.Option("--data", help="training JSONL, one {\"messages\": [...]} per line")],
    base: Annotated[str | None, typer.Option("--base", help="base model (default: HANLIN_MODEL)")] = None,
    val: Annotated[Path | None, typer.Option("--val", help="validation JSONL (validation loss)")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs")] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="LoRA rank")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="learning rate")] = None,
    name: Annotated[str | None, typer.Option("--name", help="serve the result as ft:NAME")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="stop after N steps (smoke runs)")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="queue the job and return (needs a server)")] = False,
    url: UrlOpt = None, json_out: JsonOpt = False,
) -> None:
    """Validate the data (every bad line is listed), train a LoRA, export it, register ft:NAME."""
    body = _read_body(base, data, val, epochs, rank, lr, name, max_steps)
    client, services = _client(url)
    try:
        _upload(client, services, body, data, val)
        if services is None:
            job = client.create(LOCAL_ADMIN, body)
            if not detach:
                job = follow(client, job["id"], None, quiet=json_out)
        else:
            job = asyncio.run(_create_local(services, client, body, json_out))
    except HanlinError as e:
        raise fail(e.message) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted: the job stays 'running'; `hanlin serve` resumes it from its last "
                          "checkpoint, `hanlin tune cancel ID` stops it[/]")
        os._exit(130)  # the training thread cannot be interrupted; its checkpoint is on disk
    print_json(job) if json_out else _summary(job)
    if job["status"] == "failed":
        raise typer.Exit(1)


async def _create_local(services: Services, client: Any, body: dict[str, Any], quiet: bool) -> dict[str, Any]:
    await services.jobs.start()
    try:
        job = client.create(LOCAL_ADMIN, body)
        err_console.print(f"[dim]job {job['id']} runs in this process (HANLIN_HOME={services.settings.home})[/]")
        return await asyncio.to_thread(follow, client, job["id"], None, quiet)
    finally:
        await services.jobs.stop()


@tune_app.command("list")
def list_jobs(url: UrlOpt = None, json_out: JsonOpt = False,
              limit: Annotated[int, typer.Option("--limit")] = 20) -> None:
    """Recent fine-tuning jobs."""
    client, _ = _client(url)
    jobs = client.list(None, limit=limit)
    if json_out:
        print_json(jobs)
        return
    for job in jobs["data"]:
        _summary(job)
    if not jobs["data"]:
        err_console.print("no fine-tuning jobs yet: `hanlin tune create --data train.jsonl`")


@tune_app.command()
def show(job_id: str, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """One job: status, model, losses."""
    client, _ = _client(url)
    try:
        job = client.get(job_id, None)
    except HanlinError as e:
        raise fail(e.message) from None
    print_json(job) if json_out else _summary(job)


@tune_app.command()
def events(job_id: str, url: UrlOpt = None, json_out: JsonOpt = False,
           follow_: Annotated[bool, typer.Option("--follow", "-f", help="keep printing until it ends")] = False,
           limit: Annotated[int, typer.Option("--limit")] = 200) -> None:
    """A job's events, oldest first (step, loss, validation loss, the new model)."""
    client, _ = _client(url)
    try:
        if follow_:
            job = follow(client, job_id, None)
            _summary(job)
            return
        evs = client.events(job_id, None, limit=limit, order="asc")
    except HanlinError as e:
        raise fail(e.message) from None
    if json_out:
        print_json(evs)
        return
    for ev in evs["data"]:
        out_console.print(f"{time.strftime('%H:%M:%S', time.localtime(ev['created_at']))} {ev['level']:5} "
                          f"{ev['message']}")


@tune_app.command()
def cancel(job_id: str, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Ask a job to stop (it stops at its next step)."""
    client, _ = _client(url)
    try:
        job = client.cancel(job_id, None)
    except HanlinError as e:
        raise fail(e.message) from None
    print_json(job) if json_out else _summary(job)


def register(app: typer.Typer) -> None:
    app.add_typer(tune_app, name="tune")
