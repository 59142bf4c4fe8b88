"""Custom apps (专属应用): a name, base model, system prompt, parameters, optional knowledge base and output
JSON schema, versioned and tenant-scoped. Any OpenAI client calls one as model ``app:NAME`` (or ``app:NAME@3``
for a fixed version); a chat hook turns that into a request to the base model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from hanlin.errors import BadRequest, Conflict, NotFound, PermissionDenied
from hanlin.limits import DB_INT_MAX
from hanlin.platform.audit import AuditLog
from hanlin.platform.tables import custom_apps_table
from hanlin.principal import Principal
from hanlin.serving.chat import Prepared
from hanlin.serving.schemas import ChatCompletionRequest
from hanlin.store.db import Store, dumps, loads, now

APP_NAME = re.compile(r"^[\w][\w\-.]{0,99}\Z")  # \Z: "$" would accept a trailing "\n"
PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "temperature": (int, float), "top_p": (int, float), "top_k": (int,), "max_tokens": (int,),
    "stop": (str, list), "seed": (int,), "presence_penalty": (int, float), "frequency_penalty": (int, float),
    "repeat_penalty": (int, float),
}
FIELDS = ("description", "base_model", "system_prompt", "params", "knowledge_base", "output_schema")


@dataclass
class CustomApp:
    tenant_id: str
    name: str
    version: int
    description: str = ""
    base_model: str | None = None
    system_prompt: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    knowledge_base: str | None = None
    output_schema: dict[str, Any] | None = None
    created_at: float = 0.0
    created_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {"object": "custom_app", "id": f"app:{self.name}", **d}


def _row(r: Any) -> CustomApp:
    return CustomApp(r.tenant_id, r.name, r.version, r.description or "", r.base_model, r.system_prompt or "",
                     loads(r.params) or {}, r.knowledge_base, loads(r.output_schema), r.created_at, r.created_by)


def _check_param_ranges(params: dict[str, Any]) -> None:
    """An app's params obey the same ranges as a chat request's (temperature 0–2, max_tokens ≥ 1...)."""
    try:
        ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "."}], **params})
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ()))
        raise BadRequest(f"Invalid value for 'params.{field}': {err.get('msg')}", param=f"params.{field}") from None


def check_app_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Validate the editable fields that were given; explain what to fix."""
    out = {k: values[k] for k in FIELDS if k in values}
    params = out.get("params") or {}
    if not isinstance(params, dict):
        raise BadRequest("params must be an object like {\"temperature\": 0.2, \"max_tokens\": 512}",
                         param="params")
    for k, v in params.items():
        if k not in PARAM_TYPES:
            raise BadRequest(f"Unknown parameter '{k}'; allowed: {', '.join(PARAM_TYPES)}", param=f"params.{k}")
        if isinstance(v, bool) or not isinstance(v, PARAM_TYPES[k]):
            raise BadRequest(f"Parameter '{k}' has the wrong type ({type(v).__name__})", param=f"params.{k}")
    _check_param_ranges(params)
    if "params" in out:
        out["params"] = params
    schema = out.get("output_schema")
    if schema is not None and (not isinstance(schema, dict) or "type" not in schema):
        raise BadRequest("output_schema must be a JSON Schema object with a 'type', e.g. "
                         "{\"type\": \"object\", \"properties\": {...}}", param="output_schema")
    for k in ("base_model", "knowledge_base"):
        if k in out and out[k] == "":
            out[k] = None
    return out


class AppStore:
    def __init__(self, store: Store, audit: AuditLog) -> None:
        self.store = store
        self.audit = audit

    def _query(self, tenant_id: str, name: str) -> Any:
        c = custom_apps_table.c
        return sa.select(custom_apps_table).where(c.tenant_id == tenant_id, c.name == name, c.deleted.is_(False))

    def get(self, tenant_id: str, name: str, version: int | None = None) -> CustomApp:
        q = self._query(tenant_id, name)
        q = (q.where(custom_apps_table.c.version == version) if version is not None
             else q.order_by(custom_apps_table.c.version.desc()).limit(1))
        with self.store.connect() as conn:
            r = conn.execute(q).first()
        if r is None:
            v = f" version {version}" if version is not None else ""
            raise NotFound(f"No custom app '{name}'{v} in this tenant. Create it with POST /v1/custom-apps or "
                           "`hanlin apps create`.", param="model", code="model_not_found")
        return _row(r)

    def versions(self, tenant_id: str, name: str) -> list[CustomApp]:
        with self.store.connect() as conn:
            rows = conn.execute(self._query(tenant_id, name).order_by(custom_apps_table.c.version)).all()
        if not rows:
            raise NotFound(f"No custom app '{name}' in this tenant", param="name")
        return [_row(r) for r in rows]

    def list(self, tenant_id: str | None) -> list[CustomApp]:
        c = custom_apps_table.c
        latest = (sa.select(c.tenant_id, c.name, sa.func.max(c.version).label("v"))
                  .where(c.deleted.is_(False)).group_by(c.tenant_id, c.name))
        if tenant_id is not None:
            latest = latest.where(c.tenant_id == tenant_id)
        sub = latest.subquery()
        q = (sa.select(custom_apps_table).join(sub, sa.and_(c.tenant_id == sub.c.tenant_id, c.name == sub.c.name,
                                                             c.version == sub.c.v))
             .order_by(c.tenant_id, c.name))
        with self.store.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def _insert(self, app: CustomApp) -> None:
        with self.store.begin() as conn:
            conn.execute(custom_apps_table.insert().values(
                tenant_id=app.tenant_id, name=app.name, version=app.version, description=app.description,
                base_model=app.base_model, system_prompt=app.system_prompt, params=dumps(app.params),
                knowledge_base=app.knowledge_base,
                output_schema=dumps(app.output_schema) if app.output_schema is not None else None,
                deleted=False, created_at=app.created_at, created_by=app.created_by))

    def create(self, tenant_id: str, name: str, values: dict[str, Any], *, actor: str) -> CustomApp:
        if not APP_NAME.match(name or ""):
            raise BadRequest(f"Invalid app name '{name}': letters (中文 ok), digits, '_', '-', '.', up to 100.",
                             param="name")
        try:
            self.get(tenant_id, name)
            raise Conflict(f"Custom app '{name}' already exists; update it to make a new version.", param="name")
        except NotFound:
            pass
        with self.store.connect() as conn:  # a deleted app's name can be reused: continue its numbering
            top = conn.execute(sa.select(sa.func.max(custom_apps_table.c.version)).where(
                custom_apps_table.c.tenant_id == tenant_id, custom_apps_table.c.name == name)).scalar()
        app = CustomApp(tenant_id, name, int(top or 0) + 1, created_at=now(), created_by=actor,
                        **check_app_fields(values))
        self._save(app, actor, "app.create")
        return app

    def update(self, tenant_id: str, name: str, values: dict[str, Any], *, actor: str) -> CustomApp:
        """Editing never changes a version: it writes version N+1 with the changed fields."""
        cur = self.get(tenant_id, name)
        changes = check_app_fields(values)
        if not changes:
            raise BadRequest(f"Nothing to change; editable fields: {', '.join(FIELDS)}")
        fields = {k: getattr(cur, k) for k in FIELDS}
        fields.update(changes)
        app = CustomApp(tenant_id, name, cur.version + 1, created_at=now(), created_by=actor, **fields)
        self._save(app, actor, "app.update", changed=sorted(changes))
        return app

    def _save(self, app: CustomApp, actor: str, action: str, **detail: Any) -> None:
        try:
            self._insert(app)
        except sa.exc.IntegrityError:
            raise Conflict(f"Custom app '{app.name}' was changed at the same time; retry.") from None
        self.audit.record(actor, action, tenant_id=app.tenant_id, target=f"app:{app.name}",
                          detail={"version": app.version, "base_model": app.base_model, **detail})

    def delete(self, tenant_id: str, name: str, *, actor: str) -> None:
        self.get(tenant_id, name)
        c = custom_apps_table.c
        with self.store.begin() as conn:
            conn.execute(custom_apps_table.update().where(c.tenant_id == tenant_id, c.name == name)
                         .values(deleted=True))
        self.audit.record(actor, "app.delete", tenant_id=tenant_id, target=f"app:{name}")


def split_app_model(model: str) -> tuple[str, int | None]:
    """'app:NAME' or 'app:NAME@3' -> (NAME, version)."""
    name, _, ver = model[4:].partition("@")
    if ver and not (ver.isascii() and ver.isdigit()):
        raise BadRequest(f"Bad app version in '{model}': use app:NAME or app:NAME@3", param="model")
    if ver and (len(ver) > 18 or int(ver) > DB_INT_MAX):  # beyond what the database can hold: no such version
        raise NotFound(f"App '{name}' has no version {ver}", param="model")
    return name, int(ver) if ver else None


def apply_app(app: CustomApp, prepared: Prepared, default_model: str) -> Prepared:
    """Rewrite a request for ``app:NAME`` into one for the base model."""
    body = prepared.body
    prepared.model = app.base_model or default_model
    msgs = body["messages"]
    if app.system_prompt:
        if msgs and msgs[0].get("role") == "system":
            msgs[0] = {**msgs[0], "content": f"{app.system_prompt}\n\n{msgs[0].get('content') or ''}"}
        else:
            msgs.insert(0, {"role": "system", "content": app.system_prompt})
    for k, v in app.params.items():
        body.setdefault(k, v)  # the app's parameters are defaults; the caller may override them
    if app.output_schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": re.sub(r"[^A-Za-z0-9_\-]", "_", app.name)[:64] or "output", "schema": app.output_schema}}
    if app.knowledge_base and not prepared.knowledge_base:
        prepared.knowledge_base = app.knowledge_base
    prepared.extra["app"] = {"name": app.name, "version": app.version}
    return prepared


def make_app_hook(apps: AppStore, default_model: str) -> Any:
    async def app_hook(principal: Principal, req: ChatCompletionRequest, prepared: Prepared) -> Prepared:
        model = req.model or ""
        if not model.startswith("app:"):
            return prepared
        name, version = split_app_model(model)
        if not principal.allows(f"app:{name}"):
            raise PermissionDenied(f"This API key may not use app '{name}'", param="model")
        return apply_app(apps.get(principal.tenant_id, name, version), prepared, default_model)
    return app_hook


