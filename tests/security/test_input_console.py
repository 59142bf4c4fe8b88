"""Issue 15 item 10: the console's `hidden` elements stay hidden (the browser check is in tests/web)."""

from __future__ import annotations

import re
from pathlib import Path

import hanlin.web

STATIC = Path(hanlin.web.__file__).parent / "static"


def test_hidden_attribute_beats_display_rules() -> None:
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    rule = re.search(r"\[hidden\]\s*\{\s*display\s*:\s*none\s*!important\s*;?\s*\}", css)
    assert rule, "style.css must make [hidden] win over .row/nav display rules"
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<nav id="nav"[^>]*\bhidden\b', html) and re.search(r'id="key-form"[^>]*\bhidden\b', html)
