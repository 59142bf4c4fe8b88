"""`hanlin keys|tenants|apps|usage|audit` on a local database (in-process CliRunner, no server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hanlin.cli.main import app


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    runner = CliRunner()
    env = {"HANLIN_HOME": str(tmp_path), "HANLIN_DATABASE_URL": ""}

    def run(*args: str, ok: bool = True) -> Any:
        res = runner.invoke(app, list(args), env=env)
        assert (res.exit_code == 0) == ok, (args, res.output)
        return res
    return run


def test_keys_tenants_and_audit(cli: Any, tmp_path: Path) -> None:
    admin = json.loads(cli("keys", "create", "--admin", "--name", "ops", "--json").stdout)
    assert admin["is_admin"] and admin["key"].startswith(admin["prefix"] + "-")
    cli("tenants", "create", "acme", "--name", "Acme 公司", "--rpm", "60")
    key = json.loads(cli("keys", "create", "--tenant", "acme", "--scope", "app:客服", "--expires", "30d",
                         "--tpm", "1000", "--json").stdout)
    assert key["scopes"] == ["app:客服"] and key["tpm"] == 1000 and key["expires_at"]
    listed = json.loads(cli("keys", "list", "--tenant", "acme", "--json").stdout)["data"]
    assert [k["id"] for k in listed] == [key["id"]] and "key" not in listed[0]
    cli("keys", "revoke", key["prefix"])
    assert json.loads(cli("keys", "list", "--json").stdout)["data"][1]["status"] == "revoked"
    quota = json.loads(cli("tenants", "quota", "acme", "--tpm", "500", "--monthly-tokens", "0", "--json").stdout)
    assert (quota["rpm"], quota["tpm"], quota["monthly_tokens"]) == (60, 500, None)
    tenants = json.loads(cli("tenants", "list", "--json").stdout)["data"]
    assert {t["id"] for t in tenants} == {"default", "acme"}
    audit = json.loads(cli("audit", "--tenant", "acme", "--json").stdout)["data"]
    assert [a["action"] for a in audit] == ["tenant.quota", "key.revoke", "key.create", "tenant.create"]
    assert all(a["actor"].startswith("cli") for a in audit)
    assert admin["key"] not in (tmp_path / "hanlin.db").read_bytes().decode("latin-1")
    cli("tenants", "create", "Bad Name", ok=False)
    cli("keys", "revoke", "key_nope", ok=False)
    cli("keys", "create", "--expires", "tomorrow-ish", ok=False)


def test_apps_and_usage(cli: Any, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"答复": {"type": "string"}}}), encoding="utf-8")
    cli("apps", "create", "客服", "--tenant", "acme", "--system-prompt", "你是客服。", "--param", "temperature=0.3",
        "--kb", "产品手册", "--schema", str(schema))
    cli("apps", "update", "客服", "--tenant", "acme", "--param", "max_tokens=200")
    shown = json.loads(cli("apps", "show", "客服", "--tenant", "acme").stdout)
    assert shown["version"] == 2 and shown["params"] == {"temperature": 0.3, "max_tokens": 200}
    assert shown["knowledge_base"] == "产品手册" and shown["output_schema"]["type"] == "object"
    assert json.loads(cli("apps", "show", "客服", "--tenant", "acme", "--version", "1").stdout)["params"] == {
        "temperature": 0.3}
    assert [a["id"] for a in json.loads(cli("apps", "list", "--json").stdout)["data"]] == ["app:客服"]
    cli("apps", "delete", "客服", "--tenant", "acme")
    assert json.loads(cli("apps", "list", "--json").stdout)["data"] == []
    cli("apps", "create", "x", "--param", "novalue", ok=False)
    usage = json.loads(cli("usage", "--since", "7d", "--json").stdout)
    assert usage["totals"]["requests"] == 0 and usage["data"] == []
    cli("usage", "--since", "someday", ok=False)
