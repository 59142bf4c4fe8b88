"""The web console in real headless Chromium (Playwright, /usr/bin/chromium): log in with a key, chat and see
the answer stream in, upload a transcript and see minutes. Never runs `playwright install`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path(CHROMIUM).exists() and not shutil.which("chromium"),
                                 reason="chromium is not installed (apt-get install chromium)")]
TRANSCRIPT = """张经理：今天讨论下季度的市场推广预算。
李会计：目前预算剩余三十万元，建议优先投放线上渠道。
王主管：同意，线上渠道的转化率更高，我负责下周五前给出投放方案。
张经理：好，决定线上渠道占预算的六成，李会计周三前核对剩余预算。
"""


@pytest.fixture(scope="module")
def browser() -> Any:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                              headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def test_login_chat_and_minutes_in_a_browser(server: Any, browser: Any, tmp_path: Path) -> None:
    r = server.cli("keys", "create", "--name", "browser", "--json")
    assert r.returncode == 0, r.stderr
    key = json.loads(r.stdout)
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.goto(server.url + "/")
    page.wait_for_selector("#login-key")
    # before login nothing but the login form shows: `hidden` must win over `.row{display:flex}`/`nav{display:flex}`
    for hidden in ("#nav", "#key-form", "#tab-usage", "#logout"):
        assert not page.is_visible(hidden), f"{hidden} is visible before login"
    page.fill("#login-key", key["key"])
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#nav:not([hidden])")
    assert key["prefix"] in page.inner_text("#who")  # logged in as that key, not anonymously

    # chat: count how many times the answer bubble changes while it streams
    page.wait_for_function("document.querySelectorAll('#chat-model option').length > 0")
    page.fill("#chat-input", "你好，请用一句话介绍你自己。")
    page.evaluate("""() => { window.__updates = 0; new MutationObserver((m) => { window.__updates += m.length; })
        .observe(document.querySelector('#chat-log'), {subtree: true, childList: true, characterData: true}); }""")
    page.press("#chat-input", "Enter")
    page.wait_for_function("document.querySelector('#chat-meta').textContent.includes('tokens')", timeout=180_000)
    answer = page.inner_text("#chat-log .msg.assistant")
    assert answer.strip() and "error" not in (page.get_attribute("#chat-log .msg.assistant", "class") or "")
    assert page.evaluate("window.__updates") > 3  # user bubble, empty answer, then several streamed deltas

    # minutes: only once the minutes app is served
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    if "/v1/apps/minutes" not in paths:
        pytest.skip("the minutes app is not installed on this server")
    transcript = tmp_path / "例会.txt"
    transcript.write_text(TRANSCRIPT, encoding="utf-8")
    page.click("#nav button[data-tab=minutes]")
    page.set_input_files("#minutes-file", str(transcript))
    page.click("#minutes-form button[type=submit]")
    page.wait_for_selector("#minutes-out .minutes", timeout=540_000)
    text = page.inner_text("#minutes-out .minutes")
    assert page.inner_text("#minutes-out .minutes h3").strip()
    assert "待办事项" in text and "决议" in text
    assert not page.is_visible("#toast")
