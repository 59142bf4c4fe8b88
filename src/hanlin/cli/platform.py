"""`hanlin keys|tenants|usage|apps|audit`: platform administration directly on the local database
(HANLIN_HOME or HANLIN_DATABASE_URL), so the first admin key can be made before any server runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hanlin.cli.common import err_console, fail, out_console, print_json, settings_from
from hanlin.errors import HanlinError
from hanlin.platform.audit import actor_of
from hanlin.platform.limits import LocalRateLimiter
from hanlin.platform.service import Platform
from hanlin.platform.usage import parse_since

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants and their quotas.", no_args_is_help=True)
apps_app = typer.Typer(help="Custom apps (专属应用), called as model app:NAME.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="tenant id")]
RpmOpt = Annotated[int | None, typer.Option("--rpm", help="requests per minute (0 = unlimited)")]
TpmOpt = Annotated[int | None, typer.Option("--tpm", help="tokens per minute (0 = unlimited)")]
BudgetOpt = Annotated[int | None, typer.Option("--monthly-tokens", help="monthly token budget (0 = unlimited)")]


def _platform() -> Platform:
    from hanlin.store.db import Store

    settings = settings_from()
    settings.ensure_dirs()
    store = Store(settings.db_url)
    store.init()
    return Platform(store, settings, limiter=LocalRateLimiter())


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*["-" if v is None else str(v) for v in r])
    out_console.print(t)


def _quota(rpm: int | None, tpm: int | None, monthly: int | None) -> dict[str, Any]:
    return {k: v for k, v in {"rpm": rpm, "tpm": tpm, "monthly_tokens": monthly}.items() if v is not None}


def _guard(fn: Any) -> Any:
    """HanlinErrors become a clean one-line message and exit code 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HanlinError as e:
            raise fail(e.message) from None
    return wrapper


# --- keys ---------------------------------------------------------------------------------------------------------
@keys_app.command("create")
@_guard
def keys_create(
    tenant: TenantOpt = "default",
    name: Annotated[str, typer.Option("--name", help="a label, e.g. who uses it")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="may call /v1/admin (all tenants)")] = False,
    expires: Annotated[str | None, typer.Option("--expires", help="30d, 12h, or a date 2026-12-31")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="model:NAME / app:NAME (repeatable)")] = None,
    rpm: RpmOpt = None, tpm: TpmOpt = None, monthly_tokens: BudgetOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create an API key. The key is printed once; only its hash is stored."""
    key, secret = _platform().keys.create(tenant_id=tenant, actor=actor_of(None), name=name, is_admin=admin,
                                          scopes=scope or [], expires=expires,
                                          quota=_quota(rpm, tpm, monthly_tokens))
    if as_json:
        print_json({**key.to_dict(), "key": secret})
        return
    err_console.print(f"[green]created[/] {key.id} for tenant [bold]{key.tenant_id}[/]"
                      f"{' (admin)' if admin else ''}; store this key now, it is not shown again:")
    typer.echo(secret)


@keys_app.command("list")
@_guard
def keys_list(tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant")] = None,
              as_json: JsonOpt = False) -> None:
    """List keys (prefixes only, never secrets)."""
    keys = _platform().keys.list(tenant)
    if as_json:
        print_json({"object": "list", "data": [k.to_dict() for k in keys]})
        return
    _table("API keys", ["id", "prefix", "tenant", "name", "admin", "scopes", "status", "expires", "last used"],
           [[k.id, k.prefix, k.tenant_id, k.name, "yes" if k.is_admin else "", ",".join(k.scopes), k.status,
             _when(k.expires_at), _when(k.last_used_at)] for k in keys])


@keys_app.command("revoke")
@_guard
def keys_revoke(key: Annotated[str, typer.Argument(help="key id (key_…) or prefix (hl-…)")],
                as_json: JsonOpt = False) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    k = _platform().keys.revoke(key, actor=actor_of(None))
    if as_json:
        print_json(k.to_dict())
    else:
        err_console.print(f"revoked {k.id} ({k.prefix})")


# --- tenants -----------------------------------------------------------------------------------------------------
@tenants_app.command("create")
@_guard
def tenants_create(tenant_id: Annotated[str, typer.Argument(help="id: lowercase letters, digits, - _")],
                   name: Annotated[str, typer.Option("--name", help="display name")] = "",
                   rpm: RpmOpt = None, tpm: TpmOpt = None, monthly_tokens: BudgetOpt = None,
                   as_json: JsonOpt = False) -> None:
    """Create a tenant (optionally with quotas)."""
    t = _platform().tenants.create(tenant_id, name, actor=actor_of(None), quota=_quota(rpm, tpm, monthly_tokens))
    print_json(t.to_dict()) if as_json else err_console.print(f"created tenant {t.id}")


@tenants_app.command("list")
@_guard
def tenants_list(as_json: JsonOpt = False) -> None:
    """List tenants and their quotas."""
    tenants = _platform().tenants.list()
    if as_json:
        print_json({"object": "list", "data": [t.to_dict() for t in tenants]})
        return
    _table("Tenants", ["id", "name", "rpm", "tpm", "monthly tokens", "disabled", "created"],
           [[t.id, t.name, t.rpm, t.tpm, t.monthly_tokens, "yes" if t.disabled else "", _when(t.created_at)]
            for t in tenants])


@tenants_app.command("quota")
@_guard
def tenants_quota(tenant_id: Annotated[str, typer.Argument(help="tenant id")],
                  rpm: RpmOpt = None, tpm: TpmOpt = None, monthly_tokens: BudgetOpt = None,
                  as_json: JsonOpt = False) -> None:
    """Show a tenant's quotas, or set them with --rpm/--tpm/--monthly-tokens (0 = unlimited)."""
    p = _platform()
    values = _quota(rpm, tpm, monthly_tokens)
    t = p.tenants.set_quota(tenant_id, values, actor=actor_of(None)) if values else p.tenants.get(tenant_id)
    if as_json:
        print_json(t.to_dict())
    else:
        out_console.print(f"{t.id}: rpm={t.rpm or '∞'} tpm={t.tpm or '∞'} monthly_tokens={t.monthly_tokens or '∞'}")


# --- usage and audit --------------------------------------------------------------------------------------------
def usage(tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant")] = None,
          since: Annotated[str | None, typer.Option("--since", help="7d, 24h or a date 2026-11-01")] = None,
          as_json: JsonOpt = False) -> None:
    """Usage by day and model: requests, prompt/completion tokens, errors."""
    try:
        summary = _platform().usage.summary(tenant_id=tenant, since=parse_since(since))
    except HanlinError as e:
        raise fail(e.message) from None
    if as_json:
        print_json(summary)
        return
    _table("Usage", ["day", "tenant", "model", "requests", "jobs", "errors", "prompt", "completion", "total"],
           [[r["day"], r["tenant_id"], r["model"] or "-", r["requests"], r["jobs"], r["errors"], r["prompt_tokens"],
             r["completion_tokens"], r["total_tokens"]] for r in summary["data"]])
    tot = summary["totals"]
    out_console.print(f"total: {tot['requests']} requests, {tot['total_tokens']} tokens")


def audit(tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant")] = None,
          limit: Annotated[int, typer.Option("--limit", help="newest N entries")] = 50,
          as_json: JsonOpt = False) -> None:
    """The audit log of admin actions: who, what, when."""
    rows = _platform().audit.list(tenant_id=tenant, limit=limit)
    if as_json:
        print_json({"object": "list", "data": rows})
        return
    _table("Audit log", ["when", "actor", "action", "tenant", "target", "detail"],
           [[_when(r["created_at"]), r["actor"], r["action"], r["tenant_id"], r["target"],
             json.dumps(r["detail"], ensure_ascii=False) if r["detail"] else ""] for r in rows])


# --- custom apps ------------------------------------------------------------------------------------------------
def _app_values(description: str | None, base_model: str | None, system_prompt: str | None,
                system_file: Path | None, param: list[str] | None, kb: str | None,
                schema: Path | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if system_file:
        system_prompt = system_file.read_text(encoding="utf-8")
    for k, v in (("description", description), ("base_model", base_model), ("system_prompt", system_prompt),
                 ("knowledge_base", kb)):
        if v is not None:
            values[k] = v
    if param:
        params: dict[str, Any] = {}
        for item in param:
            k, sep, v = item.partition("=")
            if not sep:
                raise fail(f"--param takes KEY=VALUE, got '{item}'")
            try:
                params[k.strip()] = json.loads(v)
            except json.JSONDecodeError:
                params[k.strip()] = v
        values["params"] = params
    if schema:
        try:
            values["output_schema"] = json.loads(schema.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise fail(f"{schema} is not valid JSON: {e}") from None
    return values


DescOpt = Annotated[str | None, typer.Option("--description", help="what the app is for")]
ModelOpt = Annotated[str | None, typer.Option("--base-model", help="base model (default: the server's)")]
PromptOpt = Annotated[str | None, typer.Option("--system-prompt", help="system prompt text")]
PromptFileOpt = Annotated[Path | None, typer.Option("--system-file", help="read the system prompt from a file")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", help="KEY=VALUE, e.g. temperature=0.2")]
KbOpt = Annotated[str | None, typer.Option("--kb", help="knowledge base to ground answers in")]
SchemaOpt = Annotated[Path | None, typer.Option("--schema", help="JSON Schema file for the output")]


@apps_app.command("create")
@_guard
def apps_create(name: Annotated[str, typer.Argument(help="app name; call it as model app:NAME")],
                tenant: TenantOpt = "default", description: DescOpt = None, base_model: ModelOpt = None,
                system_prompt: PromptOpt = None, system_file: PromptFileOpt = None, param: ParamOpt = None,
                kb: KbOpt = None, schema: SchemaOpt = None, as_json: JsonOpt = False) -> None:
    """Create a custom app (version 1)."""
    values = _app_values(description, base_model, system_prompt, system_file, param, kb, schema)
    app = _platform().apps.create(tenant, name, values, actor=actor_of(None))
    print_json(app.to_dict()) if as_json else err_console.print(f"created app:{app.name} v{app.version}")


@apps_app.command("update")
@_guard
def apps_update(name: Annotated[str, typer.Argument(help="app name")], tenant: TenantOpt = "default",
                description: DescOpt = None, base_model: ModelOpt = None, system_prompt: PromptOpt = None,
                system_file: PromptFileOpt = None, param: ParamOpt = None, kb: KbOpt = None,
                schema: SchemaOpt = None, as_json: JsonOpt = False) -> None:
    """Edit an app: writes a new version (older ones stay callable as app:NAME@N)."""
    values = _app_values(description, base_model, system_prompt, system_file, param, kb, schema)
    p = _platform()
    if "params" in values:  # --param adds to / overrides the current parameters
        values["params"] = {**p.apps.get(tenant, name).params, **values["params"]}
    app = p.apps.update(tenant, name, values, actor=actor_of(None))
    print_json(app.to_dict()) if as_json else err_console.print(f"updated app:{app.name} → v{app.version}")


@apps_app.command("list")
@_guard
def apps_list(tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant")] = None,
              as_json: JsonOpt = False) -> None:
    """List custom apps (latest versions)."""
    apps = _platform().apps.list(tenant)
    if as_json:
        print_json({"object": "list", "data": [a.to_dict() for a in apps]})
        return
    _table("Custom apps", ["model", "tenant", "version", "base model", "kb", "schema", "description"],
           [[f"app:{a.name}", a.tenant_id, a.version, a.base_model or "(default)", a.knowledge_base,
             "yes" if a.output_schema else "", a.description] for a in apps])


@apps_app.command("show")
@_guard
def apps_show(name: Annotated[str, typer.Argument(help="app name")], tenant: TenantOpt = "default",
              version: Annotated[int | None, typer.Option("--version", help="a specific version")] = None) -> None:
    """Show one app as JSON."""
    print_json(_platform().apps.get(tenant, name, version).to_dict())


@apps_app.command("delete")
@_guard
def apps_delete(name: Annotated[str, typer.Argument(help="app name")], tenant: TenantOpt = "default") -> None:
    """Delete an app (all versions)."""
    _platform().apps.delete(tenant, name, actor=actor_of(None))
    err_console.print(f"deleted app:{name}")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(apps_app, name="apps")
    app.command("usage")(usage)
    app.command("audit")(audit)
