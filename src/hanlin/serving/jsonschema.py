"""JSON Schemas from clients made self-contained for grammar-constrained decoding.

Pydantic (``openai.pydantic_function_tool``, instructor, ``client.chat.completions.parse``) writes nested models as
``$defs`` + ``$ref``; OpenAPI writers use ``definitions`` and ``nullable``. A tool's ``parameters`` end up nested
inside a larger schema (``{"name": ..., "arguments": <parameters>}``), where ``#/$defs/Item`` would no longer
resolve. ``normalize`` rewrites one schema to use only ``#/$defs/...`` refs; ``hoist`` moves its definitions out
under unique names so several schemas can be nested in one document (recursive refs keep working).
"""

from __future__ import annotations

import copy
from typing import Any

from hanlin.errors import BadRequest

MAX_DEPTH = 64  # nesting of the schema document itself (not of the data it describes)


def _walk(node: Any, fn: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise BadRequest(f"JSON schema nests deeper than {MAX_DEPTH} levels", param="schema")
    if isinstance(node, dict):
        return fn({k: _walk(v, fn, depth + 1) for k, v in node.items()})
    if isinstance(node, list):
        return [_walk(v, fn, depth + 1) for v in node]
    return node


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    if node.get("nullable") is True:
        rest = {k: v for k, v in node.items() if k != "nullable"}
        return {"anyOf": [rest, {"type": "null"}]}
    if node.get("nullable") is False:
        node.pop("nullable")
    return node


def normalize(schema: dict[str, Any], where: str = "schema") -> dict[str, Any]:
    """A copy with ``definitions`` merged into ``$defs``, refs to ``#/definitions/X`` rewritten, OpenAPI
    ``nullable`` turned into ``anyOf [.., null]``; every local ref is checked to resolve (400 naming it if not)."""
    out = copy.deepcopy(schema)
    defs = {**(out.pop("definitions", None) or {}), **(out.pop("$defs", None) or {})}

    def fix(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            node["$ref"] = "#/$defs/" + ref[len("#/definitions/"):]
        return _nullable(node)

    out = _walk(out, fix)
    defs = {k: _walk(v, fix) for k, v in defs.items()}
    if defs:
        out["$defs"] = defs
    for ref in refs_in(out):
        if ref == "#":
            continue
        if not ref.startswith("#/$defs/") or ref[len("#/$defs/"):] not in defs:
            raise BadRequest(f"{where}: cannot resolve $ref '{ref}'; refs must point into this schema's $defs "
                             "(or definitions)", param=where)
    return out


def refs_in(node: Any) -> list[str]:
    found: list[str] = []

    def visit(n: dict[str, Any]) -> dict[str, Any]:
        if isinstance(n.get("$ref"), str):
            found.append(n["$ref"])
        return n

    _walk(node, visit)
    return found


def hoist(schema: dict[str, Any], prefix: str, where: str = "schema") -> tuple[dict[str, Any], dict[str, Any]]:
    """(schema without ``$defs``, its definitions renamed ``prefix + name``) with refs rewritten to match, so the
    schema can sit anywhere inside a document whose root ``$defs`` holds the returned definitions. A ref to the
    schema's own root (``#``) becomes a ref to a definition holding it."""
    norm = normalize(schema, where)
    defs = norm.pop("$defs", {})
    root_name = prefix + "root"
    uses_root = "#" in refs_in(norm) or any("#" in refs_in(d) for d in defs.values())

    def rename(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if ref == "#":
            node["$ref"] = "#/$defs/" + root_name
        elif isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = "#/$defs/" + prefix + ref[len("#/$defs/"):]
        return node

    body = _walk(norm, rename)
    hoisted = {prefix + k: _walk(v, rename) for k, v in defs.items()}
    if uses_root:
        hoisted[root_name] = body
        body = {"$ref": "#/$defs/" + root_name}
    return body, hoisted
