"""A scripted 'model' for minutes unit tests: answers each schema with some right and some wrong citations."""

from __future__ import annotations

import json
import re
from typing import Any

MEETING = "\n".join([
    "[00:00:10] 张伟：今天先讨论预算，今年市场预算超支了十万元，需要削减。",
    "[00:01:00] 李娜：我同意削减预算，但研发经费不能动。",
    "[00:02:00] 王芳：那我们决定把市场预算削减十万元，研发经费保持不变。",
    "[00:03:00] 张伟：好的，就这么定。王芳负责下周五之前提交新的预算表。",
    "[00:04:00] 王芳：好，我负责，下周五之前提交。",
    "[01:10:00] 李娜：接下来说招聘，技术团队还缺两个后端工程师。",
    "[01:11:00] 张伟：招聘的事情我来跟进，月底前发布岗位。",
])


def _lines(body: dict[str, Any]) -> dict[int, str]:
    """Utterance index → speaker, read from the prompt like a model would."""
    user = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\[(\d+)\] (\S+?)：", user, re.M)}


def _texts(body: dict[str, Any]) -> dict[int, str]:
    user = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\[(\d+)\] \S+?：(.*)$", user, re.M)}


def responder(body: dict[str, Any]) -> str:
    schema = body["response_format"]["json_schema"]["schema"]
    props = schema["properties"]
    who = _lines(body)
    if "views" not in props:  # overview
        return json.dumps({"title": "预算与招聘会议", "summary": "会议讨论了预算削减和招聘。"}, ensure_ascii=False)
    if "title" not in props:  # repair turn: fix the wrongly attributed view, give up on the rest
        own = [i for i, s in who.items() if s == "李娜"]
        views = [{"speaker": "李娜", "text": "同意削减预算但研发经费不能动", "lines": own[:1]}] if own else []
        return json.dumps({"views": views, "decisions": [], "action_items": []}, ensure_ascii=False)
    first = min(who)
    text = _texts(body)
    views = [{"speaker": s, "text": text[i][:14], "lines": [i]} for i, s in who.items()][:2]
    others = [i for i, s in who.items() if s != "李娜"]
    if "李娜" in who.values() and others:  # wrong: 李娜's view citing someone else's line
        other = others[0]
        views.append({"speaker": "李娜", "text": "同意削减预算但研发经费不能动", "lines": [other]})
    decisions = [{"text": "决定削减市场预算十万元", "lines": [i]} for i in who if i == 2]
    actions = [{"owner": "赵六", "task": "提交预算表", "due": "2030-01-01", "lines": [first]}]  # invented owner
    actions += [{"owner": "王芳", "task": "提交新的预算表", "due": "下周五", "lines": [i]} for i in who if i == 4]
    return json.dumps({"title": "预算", "summary": "讨论预算。", "views": views, "decisions": decisions,
                       "action_items": actions}, ensure_ascii=False)
