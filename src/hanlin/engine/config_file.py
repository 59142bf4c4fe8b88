"""The YAML file of `hanlin serve --config hanlin.yaml`: engine pools and their members.

```yaml
pools:
  - name: qwen2.5-72b-instruct          # the model name clients use; listed once in /v1/models
    health_interval_s: 10
    members:
      - kind: vllm                      # vllm | llamacpp | hanlin | openai | local
        base_url: http://10.0.0.11:8000/v1
        model: Qwen/Qwen2.5-72B-Instruct  # the upstream's own model name
        api_key_env: VLLM_KEY           # the name of an env var, never the key itself
        timeout_s: 600
      - kind: local                     # loaded in this process by xllamacpp
        model: qwen2.5-coder-1.5b-instruct
```

Each ``kind`` has a dialect: how structured output (and so grammar-enforced tool calls, which Hanlin turns into
a JSON schema before any engine sees them) is spelled for that server. Override it with ``structured_output``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hanlin.errors import BadRequest, NotFound

MemberKind = Literal["vllm", "llamacpp", "hanlin", "openai", "local"]
# How a JSON schema is sent upstream:
#   response_format    OpenAI's {"type": "json_schema", ...} (vLLM >= 0.6, llama.cpp server, Hanlin, OpenAI)
#   guided_json        vLLM's older extra parameter {"guided_json": schema}
#   structured_outputs vLLM >= 0.10.2 {"structured_outputs": {"json": schema}}
#   json_schema        llama.cpp server's top-level {"json_schema": schema}
#   none               dropped: the upstream cannot constrain output; apps still verify what comes back
StructuredOutput = Literal["response_format", "guided_json", "structured_outputs", "json_schema", "none"]

DEFAULT_STRUCTURED: dict[str, StructuredOutput] = {
    "vllm": "response_format", "llamacpp": "json_schema", "hanlin": "response_format",
    "openai": "response_format", "local": "response_format",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberConfig(_Strict):
    kind: MemberKind
    base_url: str = Field("", description="the upstream's OpenAI base URL, ending in /v1 (not for kind=local)")
    model: str = Field("", description="the model name the upstream knows (default: the pool's name); "
                                       "for kind=local a Hanlin registry name")
    name: str = Field("", description="a label for logs and /health (default: kind@base_url)")
    api_key_env: str = Field("", description="environment variable holding the upstream's API key")
    timeout_s: float = Field(600.0, gt=0, description="read timeout for one request")
    connect_timeout_s: float = Field(5.0, gt=0)
    max_concurrency: int = Field(0, ge=0, description="requests sent at once; 0 = unlimited (the upstream queues)")
    structured_output: StructuredOutput | None = Field(None, description="override the kind's dialect")

    @model_validator(mode="after")
    def _check(self) -> MemberConfig:
        if self.kind == "local":
            if not self.model:
                raise ValueError("a member of kind 'local' needs 'model' (a name from `hanlin models list`)")
        elif not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"a member of kind '{self.kind}' needs 'base_url' like http://HOST:PORT/v1")
        return self

    @property
    def dialect(self) -> StructuredOutput:
        return self.structured_output or DEFAULT_STRUCTURED[self.kind]

    def label(self, index: int) -> str:
        return self.name or (f"local:{self.model}" if self.kind == "local" else f"{self.kind}@{self.base_url}#{index}")


class PoolConfig(_Strict):
    name: str = Field(min_length=1)
    members: list[MemberConfig] = Field(min_length=1)
    health_interval_s: float = Field(10.0, gt=0, description="seconds between health checks of each member")
    failure_threshold: int = Field(1, ge=1, description="consecutive failures that open a member's circuit")
    cooldown_s: float = Field(15.0, gt=0, description="first wait before an open circuit is tried again")
    max_cooldown_s: float = Field(300.0, gt=0, description="cap of the doubling wait")
    max_attempts: int = Field(3, ge=1, description="members tried for one request before it fails")
    n_ctx: int = Field(0, ge=0, description="context tokens per request the members offer (0 = unknown)")

    @model_validator(mode="after")
    def _no_self_reference(self) -> PoolConfig:
        if any(m.kind == "local" and m.model == self.name for m in self.members):
            raise ValueError(f"pool '{self.name}' cannot have a local member of the same name; name the pool "
                             "differently from the local model")
        return self


class HanlinConfig(_Strict):
    pools: list[PoolConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> HanlinConfig:
        names = [p.name for p in self.pools]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"pool names must be unique; repeated: {', '.join(sorted(dup))}")
        return self


def parse_config(data: object, source: str = "config") -> HanlinConfig:
    try:
        return HanlinConfig.model_validate(data or {})
    except ValidationError as e:
        problems = [f"'{'.'.join(str(p) for p in err['loc']) or '(top)'}': {err['msg']}" for err in e.errors()[:5]]
        raise BadRequest(f"{source} is not a valid Hanlin config: {'; '.join(problems)} "
                         "(see docs/scaling.md for the format)") from e


def load_config(path: Path) -> HanlinConfig:
    if not path.is_file():
        raise NotFound(f"Config file {path} does not exist (set by --config / HANLIN_CONFIG_FILE)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise BadRequest(f"{path} is not valid YAML: {e}") from e
    return parse_config(data, str(path))
