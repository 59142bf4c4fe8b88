"""Explain a formula: parse it with the ``formulas`` tokenizer into a call tree, then describe every function
(nested ones included) and every reference in Chinese or English. Deterministic: no model involved."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hanlin.apps.formulas.catalogue import catalogue
from hanlin.apps.formulas.verify import normalize
from hanlin.apps.formulas.workbook import WorkbookInfo
from hanlin.errors import BadRequest
from hanlin.limits import check_formula

_OPS_ZH = {"+": "加", "-": "减", "*": "乘", "/": "除以", "^": "乘方", "&": "连接文本", "=": "等于",
           "<>": "不等于", ">": "大于", "<": "小于", ">=": "大于等于", "<=": "小于等于", "%": "百分比"}
_OPS_EN = {"+": "plus", "-": "minus", "*": "times", "/": "divided by", "^": "to the power of",
           "&": "concatenated with", "=": "equals", "<>": "not equal to", ">": "greater than",
           "<": "less than", ">=": "at least", "<=": "at most", "%": "percent"}


@dataclass
class Node:
    kind: str  # function | group | range | string | number | operator | other
    text: str
    args: list[list[Node]] = field(default_factory=list)  # for function/group: arguments, each a token list
    attr: dict[str, Any] = field(default_factory=dict)


def parse_tree(formula: str) -> list[Node]:
    import formulas

    f = normalize(check_formula(formula))
    try:
        tokens, _ = formulas.Parser().ast(f)
    except RecursionError:
        raise BadRequest("The formula nests too deeply to parse (HANLIN_MAX_FORMULA_DEPTH).", param="formula",
                         code="formula_too_deep") from None
    except Exception as e:  # noqa: BLE001
        raise BadRequest(f"The formula does not parse: {e}. Check brackets, commas and quotes.",
                         param="formula") from None
    root: list[Node] = []
    stack: list[Node] = []
    current: list[Node] = root
    pending_fn: Node | None = None
    for t in tokens:
        kind = type(t).__name__
        name = str(t.attr.get("name", t))
        if kind == "Function":
            pending_fn = Node("function", name.upper().replace("_XLFN.", ""), [[]], dict(t.attr))
            current.append(pending_fn)
        elif kind == "Parenthesis" and name == "(":
            node = pending_fn or Node("group", "()", [[]])
            if pending_fn is None:
                current.append(node)
            pending_fn = None
            stack.append(node)
            current = node.args[-1]
        elif kind == "Parenthesis":  # ")"
            if stack:
                stack.pop()
            current = stack[-1].args[-1] if stack else root
        elif kind == "Separator" and stack and name == ",":
            stack[-1].args.append([])
            current = stack[-1].args[-1]
        elif kind == "Range":
            ref, sheet = t.attr.get("ref") or name, t.attr.get("sheet")
            text = f"{_quote_sheet(sheet)}!{ref}" if sheet else str(ref)
            current.append(Node("range", text, attr=dict(t.attr)))
        elif kind == "String":
            current.append(Node("string", name))
        elif kind == "Number":
            current.append(Node("number", name))
        elif kind in ("OperatorToken", "Operator", "Separator"):
            current.append(Node("operator", name))
        else:
            current.append(Node("other", name))
    for fn in _functions(root):  # drop the empty argument list of f()
        if fn.args == [[]]:
            fn.args = []
    return root


def _quote_sheet(sheet: str) -> str:
    return sheet if re.fullmatch(r"[A-Za-z_][\w.]*", sheet) else "'" + sheet.replace("'", "''") + "'"


def _functions(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for n in nodes:
        if n.kind == "function":
            out.append(n)
        for a in n.args:
            out.extend(_functions(a))
    return out


def render(nodes: list[Node]) -> str:
    parts: list[str] = []
    for n in nodes:
        if n.kind in ("function", "group"):
            inner = ", ".join(render(a) for a in n.args)
            parts.append(f"{n.text if n.kind == 'function' else ''}({inner})")
        elif n.kind == "string":
            parts.append(f'"{n.text}"')
        elif n.kind == "range":
            parts.append(n.text)
        else:
            parts.append(n.text)
    return " ".join(parts).replace(" ( ", "(")


def describe_reference(attr: dict[str, Any], info: WorkbookInfo | None, lang: str) -> str:
    ref = str(attr.get("ref") or attr.get("name") or "")
    sheet = attr.get("sheet")
    m = re.fullmatch(r"\$?([A-Z]+)?\$?(\d+)?(?::\$?([A-Z]+)?\$?(\d+)?)?", ref.upper())
    if not m:
        return (f"命名区域 {ref}" if lang != "en" else f"the named range {ref}")
    c1, r1, c2, r2 = m.groups()
    header = _header_of(info, sheet, c1, c2)
    where = (f"工作表「{sheet}」的" if sheet else "") if lang != "en" else (f" on sheet '{sheet}'" if sheet else "")
    if lang == "en":
        if c2 is None and r2 is None:
            what = f"cell {ref}"
        elif not r1 and not r2:
            what = f"the whole column {c1}" if c1 == c2 else f"whole columns {c1} to {c2}"
        elif c1 == c2:
            what = f"column {c1}, rows {r1}–{r2}"
        else:
            what = f"the block {ref}"
        return what + where + (f" (the '{header}' column)" if header else "")
    if c2 is None and r2 is None:
        what = f"单元格 {ref}"
    elif not r1 and not r2:
        what = f"整列 {c1}" if c1 == c2 else f"{c1} 到 {c2} 整列"
    elif c1 == c2:
        what = f"{c1} 列第 {r1}–{r2} 行"
    else:
        what = f"区域 {ref}"
    return where + what + (f"（「{header}」列）" if header else "")


def _header_of(info: WorkbookInfo | None, sheet: str | None, c1: str | None, c2: str | None) -> str:
    if info is None or not c1 or (c2 and c2 != c1):
        return ""
    try:
        sh = info.sheet(sheet) if sheet else info.sheets[0]
    except Exception:  # noqa: BLE001 - unknown sheet: nothing to add
        return ""
    for col in sh.columns:
        if col.letter == c1:
            return col.name
    return ""


def _explain_nodes(nodes: list[Node], depth: int, info: WorkbookInfo | None, lang: str,
                   lines: list[str], funcs: list[dict[str, Any]], refs: list[dict[str, Any]]) -> None:
    cat = catalogue()
    ops = _OPS_EN if lang == "en" else _OPS_ZH
    pad = "  " * depth
    for n in nodes:
        if n.kind == "function":
            entry = cat.get(n.text)
            desc = entry.describe(lang) if entry else ("(not in the catalogue)" if lang == "en" else "（目录中没有此函数）")
            funcs.append({"name": n.text, "depth": depth, "description": desc,
                          "syntax": entry.syntax if entry else "", "executable": bool(entry and entry.executable)})
            lines.append(f"{pad}- {n.text}：{desc}" if lang != "en" else f"{pad}- {n.text}: {desc}")
            for i, arg in enumerate(n.args, 1):
                label = f"参数{i}" if lang != "en" else f"argument {i}"
                lines.append(f"{pad}  · {label}: {render(arg)}")
                _explain_nodes(arg, depth + 2, info, lang, lines, funcs, refs)
        elif n.kind == "group":
            for arg in n.args:
                _explain_nodes(arg, depth, info, lang, lines, funcs, refs)
        elif n.kind == "range":
            d = describe_reference(n.attr, info, lang)
            refs.append({"ref": n.text, "sheet": n.attr.get("sheet"), "description": d})
            lines.append(f"{pad}- {n.text}: {d}")
        elif n.kind == "string" and depth:
            text = f'"{n.text}"：文本/条件值' if lang != "en" else f'"{n.text}": a text or criteria value'
            if n.text[:2] in (">=", "<=", "<>") or n.text[:1] in (">", "<", "="):
                text = (f'"{n.text}"：条件，{ops.get(n.text[:2], ops.get(n.text[:1], ""))} {n.text.lstrip("<>=")}'
                        if lang != "en" else f'"{n.text}": criterion, {ops.get(n.text[:2], ops.get(n.text[:1], ""))}'
                        f' {n.text.lstrip("<>=")}')
            lines.append(f"{pad}- {text}")
        elif n.kind == "operator" and n.text in ops and n.text != ",":
            lines.append(f"{pad}- {n.text}: {ops[n.text]}")


def explain(formula: str, lang: str = "zh", info: WorkbookInfo | None = None) -> dict[str, Any]:
    """``{"formula", "explanation", "functions": [...], "references": [...]}``."""
    f = normalize(formula)
    tree = parse_tree(f)
    lines: list[str] = []
    funcs: list[dict[str, Any]] = []
    refs: list[dict[str, Any]] = []
    _explain_nodes(tree, 0, info, lang, lines, funcs, refs)
    names = list(dict.fromkeys(x["name"] for x in funcs))
    if lang == "en":
        head = f"The formula {f} uses {', '.join(names) or 'no functions'}"
        head += f" and reads {len(refs)} reference(s)." if refs else "."
    else:
        head = f"公式 {f} 使用了 {'、'.join(names) or '（无函数）'}"
        head += f"，引用了 {len(refs)} 处单元格/区域。" if refs else "。"
    return {"formula": f, "explanation": "\n".join([head, *lines]), "functions": funcs, "references": refs}
