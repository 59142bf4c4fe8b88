"""Popular client libraries, unchanged, against the real server (versions pinned in the ``test`` extra)."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from tests.compat.common import MODEL, WEATHER

pytestmark = pytest.mark.e2e


class City(BaseModel):
    name: str
    province: str
    level: Literal["直辖市", "省会", "其他"]


class Trip(BaseModel):  # nested: instructor's TOOLS mode sends $defs/$ref
    title: str = Field(max_length=30)  # maxLength is enforced by the grammar: the 0.5B repeats itself without it
    cities: list[City] = Field(max_length=2)


# --- langchain-openai ------------------------------------------------------------------------------------------
def test_langchain_invoke_stream_tools_structured(server):
    base_url = server.base_url
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model=MODEL, base_url=base_url, api_key="unused", max_tokens=24, temperature=0,
                     max_retries=0)
    assert llm.invoke("用一句话介绍上海。").content
    pieces = [c.content for c in llm.stream("从1数到5。")]
    assert len(pieces) > 1 and "".join(pieces)
    ai = llm.bind_tools([WEATHER], tool_choice="required").invoke([HumanMessage("北京天气怎么样？")])
    assert ai.tool_calls and ai.tool_calls[0]["name"] == "get_weather" and ai.tool_calls[0]["args"]["city"]
    final = llm.bind_tools([WEATHER]).invoke([HumanMessage("北京天气怎么样？"), ai,
                               ToolMessage("晴，25°C", tool_call_id=ai.tool_calls[0]["id"])])
    assert final.content and not final.tool_calls
    city = llm.with_structured_output(City, method="json_schema").invoke("杭州是哪个省的？")
    assert isinstance(city, City) and city.level in ("直辖市", "省会", "其他")


# --- llama-index -------------------------------------------------------------------------------------------------
def test_llama_index_openai_like_complete_stream_chat(server):
    base_url = server.base_url
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(model=MODEL, api_base=base_url, api_key="unused", max_tokens=8, temperature=0,
                     is_chat_model=False, context_window=4096, max_retries=0)
    done = llm.complete("def add(a, b):")
    streamed = list(llm.stream_complete("def add(a, b):"))
    assert len(streamed) > 1 and streamed[-1].text == done.text
    chat = OpenAILike(model=MODEL, api_base=base_url, api_key="unused", max_tokens=16, is_chat_model=True,
                      max_retries=0)
    assert chat.chat([ChatMessage(role="user", content="你好")]).message.content
    assert "".join(r.delta or "" for r in chat.stream_chat([ChatMessage(role="user", content="你好")]))


# --- instructor ---------------------------------------------------------------------------------------------------
def test_instructor_tools_and_json_modes(server):
    base_url = server.base_url
    import instructor
    from openai import OpenAI

    raw = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    for mode in (instructor.Mode.TOOLS, instructor.Mode.JSON_SCHEMA):
        client = instructor.from_openai(raw, mode=mode)
        trip = client.chat.completions.create(
            model=MODEL, response_model=Trip, max_tokens=400, temperature=0, max_retries=0,
            messages=[{"role": "user", "content": "规划一次北京到上海的两城之旅，给出简短的标题和两个城市。"}])
        assert isinstance(trip, Trip) and trip.cities


# --- litellm -------------------------------------------------------------------------------------------------------
def test_litellm_completion_stream_embedding_and_errors(server):
    base_url = server.base_url
    import litellm

    kw = {"model": f"openai/{MODEL}", "api_base": base_url, "api_key": "unused", "num_retries": 0}
    r = litellm.completion(messages=[{"role": "user", "content": "你好"}], max_tokens=8, **kw)
    assert r.choices[0].message.content
    chunks = list(litellm.completion(messages=[{"role": "user", "content": "你好"}], max_tokens=8, stream=True,
                                     **kw))
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    tools = litellm.completion(messages=[{"role": "user", "content": "上海天气如何？"}], tools=[WEATHER],
                               tool_choice="required", max_tokens=40, **kw)
    assert json.loads(tools.choices[0].message.tool_calls[0].function.arguments)["city"]
    with pytest.raises(litellm.ContextWindowExceededError):
        litellm.completion(messages=[{"role": "user", "content": "测试 " * 6000}], max_tokens=4, **kw)
    with pytest.raises(litellm.NotFoundError):
        litellm.completion(messages=[{"role": "user", "content": "hi"}], max_tokens=4,
                           **{**kw, "model": "openai/no-such-model"})
    emb = litellm.embedding(model="openai/e5-small", input=["你好"], api_base=base_url, api_key="unused")
    assert len(emb.data[0]["embedding"]) == 384


# --- node openai (optional) ---------------------------------------------------------------------------------
NODE_SCRIPT = textwrap.dedent("""
    const OpenAI = require("openai");
    const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused", maxRetries: 0 });
    (async () => {
      const r = await client.chat.completions.create({ model: process.argv[3], max_tokens: 8,
        messages: [{ role: "user", content: "你好" }] });
      let streamed = "";
      const s = await client.chat.completions.create({ model: process.argv[3], max_tokens: 8, stream: true,
        messages: [{ role: "user", content: "你好" }] });
      for await (const c of s) streamed += (c.choices[0] && c.choices[0].delta.content) || "";
      const t = await client.chat.completions.create({ model: process.argv[3], max_tokens: 40,
        tool_choice: "required", tools: [JSON.parse(process.argv[4])],
        messages: [{ role: "user", content: "北京天气？" }] });
      console.log(JSON.stringify({ text: r.choices[0].message.content, streamed,
        call: t.choices[0].message.tool_calls[0].function.name }));
    })().catch((e) => { console.error(e); process.exit(1); });
""")


def test_node_openai_sdk(server, tmp_path_factory):
    base_url = server.base_url
    if not shutil.which("npm") or not shutil.which("node"):
        pytest.skip("npm is not installed: the node openai SDK check is optional")
    work: Path = tmp_path_factory.mktemp("node-openai")
    try:
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "openai@6.49.0"], cwd=work, check=True,
                       capture_output=True, timeout=180)
    except (subprocess.SubprocessError, OSError) as e:
        pytest.skip(f"npm could not install openai@6.49.0 (offline?): {e}")
    (work / "check.js").write_text(NODE_SCRIPT)
    out = subprocess.run(["node", "check.js", base_url, MODEL, json.dumps(WEATHER)], cwd=work, text=True,
                         capture_output=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["text"] and got["streamed"] and got["call"] == "get_weather"
