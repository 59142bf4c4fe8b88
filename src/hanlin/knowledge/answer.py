"""Grounded answers: numbered passages in, an answer with [n] markers and a verified citations list out.

Nothing relevant retrieved → the honest "资料中没有找到相关信息。" without asking the model. The model's markers are
checked: out-of-range numbers are dropped, the rest renumbered in order of first use so ``[1]`` is
``citations[0]``. An answer without any valid marker gets the passage that shares the most words with it (then
``repaired: true``), or none and ``verified: false``.

Small models over-refuse: told "answer 资料中没有找到相关信息 when the passages lack the answer", the 1.5B refused
questions whose answer was verbatim in passage [1]. Refusals are therefore checked too: when the model refuses but
a passage is a *strong match* (cosine ≥ ``DENSE_MIN`` and ≥ ``STRONG_COVERAGE`` of the question's words in it), the
question is asked once more without the refusal option, and that answer is kept only if code finds it in the
passages (≥ 50% of its character bigrams) and the passages it cites name every year the question asks about;
otherwise the refusal stands (``second_look`` says what happened). Complete chat answers get the same checks.
"""

from __future__ import annotations

import re
from typing import Any

from hanlin.engine.ask import add_usage, ask_text
from hanlin.engine.base import Engine
from hanlin.knowledge.fold import fold
from hanlin.knowledge.retrieve import Hit

NOT_FOUND = "资料中没有找到相关信息。"
_REFUSALS = ("没有找到相关信息", "没有找到相关", "无法回答", "未提及", "没有提及", "没有提到", "资料中没有", "无法根据")
_MARKER = re.compile(r"[\[【]\s*(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\s*[\]】]")
PASSAGE_CHARS = 500
SECOND_LOOK_SUPPORT = 0.5
BARE_QUOTE_MIN = 0.2  # share of the question's bigrams the quoted sentence must hold to stand for a bare "[1]"  # share of the second answer's character bigrams that must occur in the passages

_RULES = "下面编号的资料回答用户的问题，不要使用资料以外的知识，不要编造。回答要简洁，每个事实后面用方括号标注资料编号，例如 [1]。"
SYSTEM_PROMPT = f"你是企业知识库助手。只根据{_RULES}如果资料里没有问题的答案，只回答：{NOT_FOUND}"
SECOND_LOOK_PROMPT = f"你是企业知识库助手。根据{_RULES}"  # the same rules without the refusal option


def passages_text(hits: list[Hit]) -> str:
    lines = []
    for i, h in enumerate(hits, 1):
        where = h.row.document + (f" · {h.row.heading}" if h.row.heading else "")
        lines.append(f"[{i}]（{where}）{h.row.text[:PASSAGE_CHARS]}")
    return "\n".join(lines)


def build_messages(question: str, hits: list[Hit], system: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"资料：\n{passages_text(hits)}\n\n问题：{question}"}]


_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]?")


def quote(passage: str, answer: str, max_chars: int = 160) -> str:
    """The sentence of ``passage`` that shares the most character bigrams with ``answer`` (what to show as the
    quoted evidence); the passage's start when nothing overlaps."""
    target = _bigrams(answer)
    best, best_score = "", 0
    for m in _SENTENCE.finditer(passage):
        sent = m.group(0).strip()
        score = len(_bigrams(sent) & target)
        if sent and score > best_score:
            best, best_score = sent, score
    return (best or passage.strip())[:max_chars]


def citation(hit: Hit, n: int, answer: str = "") -> dict[str, Any]:
    r = hit.row
    out = {"index": n, "document": r.document, "chunk_id": r.chunk_id, "text": r.text, "heading": r.heading,
           "document_id": r.doc_id, "page": r.page, "span": [r.start, r.end], "quote": quote(r.text, answer)}
    if r.bbox:
        out["bbox"] = r.bbox
    return out


def _bigrams(text: str) -> set[str]:
    t = re.sub(r"\s+|[，。、；：！？,.;:!?（）()“”]", "", _MARKER.sub("", text))  # digits count: "12人"
    return {t[i:i + 2] for i in range(len(t) - 1)}


def support(answer: str, passage: str) -> float:
    """Share of the answer's character bigrams found in the passage."""
    a = _bigrams(answer)
    return len(a & _bigrams(passage)) / len(a) if a else 0.0


def is_refusal(text: str) -> bool:
    return any(r in text for r in _REFUSALS)


_CN_NUM = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUMBER = re.compile(r"(?<![A-Za-z\d.])\d+(?:[,，]\d{3})*(?:\.\d+)?|[零〇一二两三四五六七八九十百千]+(?=[万亿千百个天年月日人次元名家项倍岁条台辆%])")
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\d[A-Za-z0-9_-]*|[A-Z]{2,}")  # codes and acronyms: SO1017, GB/T, ISO


def _cn_value(s: str) -> float | None:
    """Chinese numerals up to the thousands (五 → 5, 十五 → 15, 二百五十 → 250, 两千 → 2000)."""
    total, cur = 0, 0
    for ch in s:
        if ch in _CN_NUM:
            cur = _CN_NUM[ch]
        elif ch in "十百千":
            total += (cur or 1) * {"十": 10, "百": 100, "千": 1000}[ch]
            cur = 0
        else:
            return None
    return float(total + cur)


def figures(text: str) -> set[float]:
    """The numbers written in ``text`` (Arabic or Chinese numerals; thousands separators ignored), citation
    markers left out."""
    out: set[float] = set()
    for m in _NUMBER.finditer(_MARKER.sub(" ", fold(text))):
        tok = m.group(0)
        val = float(re.sub(r"[,，]", "", tok)) if tok[0].isdigit() else _cn_value(tok)
        if val is not None:
            out.add(val)
    return out


def unsupported(answer: str, passages: str, question: str = "") -> list[str]:
    """Figures and codes the answer states that neither the cited passages nor the question contain: a wrong
    amount or a made-up identifier. Empty when everything the answer asserts in figures is in the sources."""
    source = fold(passages + "\n" + question)
    known = figures(source)
    missing = [f"{v:g}" for v in sorted(figures(answer)) if v not in known]
    src_upper = source.upper()
    missing += [c for c in dict.fromkeys(_CODE.findall(_MARKER.sub(" ", answer))) if c.upper() not in src_upper]
    return missing


def _bare(text: str) -> bool:
    """Nothing but citation markers and punctuation ("[1]", "[1]。")."""
    return len(re.sub(r"[\s\W_]", "", _MARKER.sub("", text))) < 2


def finalize(text: str, hits: list[Hit], question: str = "") -> dict[str, Any]:
    """Check and renumber the model's markers; returns {answer, citations, verified, repaired, unsupported}.

    ``verified`` means code found the answer's figures and codes in the passages it cites (a wrong amount with a
    citation is not verified). A bare "[1]" is never the answer: the cited passage's sentence that best matches
    the question is quoted instead (``repaired``)."""
    text = text.strip()
    order: list[int] = []
    for m in _MARKER.finditer(text):
        for num in re.split(r"\s*[,，、]\s*", m.group(1)):
            i = int(num)
            if 1 <= i <= len(hits) and i not in order:
                order.append(i)
    if not order and (not text or is_refusal(text) or _bare(text)):
        return {"answer": NOT_FOUND, "citations": [], "verified": True, "repaired": False, "unsupported": []}
    new_num = {old: new for new, old in enumerate(order, 1)}

    def renumber(m: re.Match[str]) -> str:
        nums = [new_num[int(x)] for x in re.split(r"\s*[,，、]\s*", m.group(1)) if int(x) in new_num]
        return "".join(f"[{n}]" for n in dict.fromkeys(nums))

    answer = _MARKER.sub(renumber, text)
    repaired = False
    if order and _bare(answer):  # "[1]" alone: quote the cited passage's best sentence for the question
        first = hits[order[0] - 1]
        sentence = quote(first.row.text, question or text)
        if question and support(question, sentence) < BARE_QUOTE_MIN:  # nothing there answers it: a refusal
            return {"answer": NOT_FOUND, "citations": [], "verified": True, "repaired": True, "unsupported": []}
        answer, order, repaired = f"{sentence} [1]", order[:1], True
    if not order:
        best = max(range(len(hits)), key=lambda i: support(answer, hits[i].row.text)) if hits else -1
        if best < 0 or support(answer, hits[best].row.text) < 0.3:
            return {"answer": answer, "citations": [], "verified": False, "repaired": False,
                    "unsupported": unsupported(answer, "", question)}
        answer, order, new_num, repaired = answer.rstrip() + " [1]", [best + 1], {best + 1: 1}, True
    cited = [hits[i - 1] for i in order]
    missing = unsupported(answer, "\n".join(h.row.text for h in cited), question)
    return {"answer": answer, "citations": [citation(h, n, answer) for n, h in enumerate(cited, 1)],
            "verified": not missing, "repaired": repaired, "unsupported": missing}


_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")


def missing_years(question: str, passages: list[Hit]) -> list[str]:
    """Years the question asks about that none of ``passages`` mentions. Same-topic passages about another year
    ("2020年全年城镇新增就业1186万人" for a question about 2021) are the commonest wrong source."""
    return [y for y in dict.fromkeys(_YEAR.findall(question)) if not any(y in h.row.text for h in passages)]


async def second_look(engine: Engine, question: str, hits: list[Hit], refused: dict[str, Any],
                      usage: dict[str, int], *, max_tokens: int = 384,
                      temperature: float = 0.1) -> dict[str, Any]:
    """The model refused although a passage matches the question strongly: ask once more without the refusal
    option; keep that answer only if code finds it in the passages (≥ ``SECOND_LOOK_SUPPORT`` of its character
    bigrams) and the passages it cites name every year the question asks about. Otherwise the refusal stands."""
    again, usage2 = await ask_text(engine, build_messages(question, hits, SECOND_LOOK_PROMPT),
                                        max_tokens=max_tokens, temperature=temperature)
    total: dict[str, int] = {}
    add_usage(total, usage)
    add_usage(total, usage2)
    result = finalize(again, hits, question)
    found = support(result["answer"], "\n".join(h.row.text for h in hits))
    cited = [h for h in hits if h.row.chunk_id in {c["chunk_id"] for c in result["citations"]}] or hits
    missing = missing_years(question, cited)
    look = {"kept": False, "support": round(found, 3), "missing_years": missing}
    # kept when code finds it in the passages: most of its wording, or (a short answer such as "500元/晚[1]")
    # figures that all occur in the passages it cites
    grounded = found >= SECOND_LOOK_SUPPORT or (bool(figures(result["answer"])) and result["verified"])
    if is_refusal(again) or result["answer"] == NOT_FOUND or not grounded or missing or not result["verified"]:
        return {**refused, "usage": total, "second_look": look}
    return {**result, "usage": total, "second_look": {**look, "kept": True}}


async def checked_answer(engine: Engine, question: str, text: str, hits: list[Hit], usage: dict[str, int], *,
                         max_tokens: int = 384, temperature: float = 0.1) -> dict[str, Any]:
    """The model's ``text`` checked against the passages it was given (:func:`finalize`); a refusal despite a
    strong match gets the :func:`second_look`."""
    result = finalize(text, hits, question)
    if result["answer"] != NOT_FOUND or not any(h.strong or h.clear_table_match for h in hits):
        return {**result, "usage": usage}
    return await second_look(engine, question, hits, result, usage, max_tokens=max_tokens, temperature=temperature)


_ENTITY_TAGS = {"ns", "nr", "nrt", "nrfg", "nt", "eng"}  # jieba: places, people, organisations, Latin words


def question_entities(question: str) -> list[str]:
    """Names the question asks about (places, people, organisations, Latin terms such as VPN), by jieba's tagger."""
    import jieba.posseg

    return list(dict.fromkeys(w for w, tag in jieba.posseg.lcut(fold(question))
                              if tag in _ENTITY_TAGS and len(w) >= 2))


def missing_entities(question: str, passages: list[Hit]) -> list[str]:
    """Names the question asks about that no passage (text, heading or document name) contains: a same-topic
    passage about another region or city ("华东" for a question about 华南) is the commonest wrong source, and a
    small model answers from it."""
    text = "\n".join(f"{h.row.document} {h.row.heading} {h.row.text}" for h in passages).lower()
    return [e for e in question_entities(question) if e.lower() not in text]


async def grounded_answer(engine: Engine, question: str, hits: list[Hit], *, max_tokens: int = 384,
                          temperature: float = 0.1) -> dict[str, Any]:
    """Answer ``question`` from the relevant ``hits`` only; a question naming a place, person, organisation or
    term that none of them contains is answered with the refusal, without asking the model."""
    relevant = [h for h in hits if h.relevant]
    if not relevant:
        return {"answer": NOT_FOUND, "citations": [], "verified": True, "repaired": False, "usage": {}}
    gap = missing_entities(question, relevant)
    if gap:
        return {"answer": NOT_FOUND, "citations": [], "verified": True, "repaired": False, "usage": {},
                "missing_entities": gap}
    text, usage = await ask_text(engine, build_messages(question, relevant), max_tokens=max_tokens,
                                      temperature=temperature)
    return await checked_answer(engine, question, text, relevant, usage, max_tokens=max_tokens,
                                temperature=temperature)


async def check_chat_response(engine: Engine, question: str, resp: dict[str, Any], hits: list[Hit]) -> None:
    """A complete knowledge-base chat answer, checked like ``ask``'s: markers renumbered, ``citations`` narrowed
    to the passages the answer cites (the passages the model saw are in ``retrieved``, as ``ask`` gives them),
    ``verified`` added, a refusal despite a strong match given the second look (its tokens added to ``usage``).
    With no relevant passage the answer is the honest refusal, whatever the model wrote."""
    choices = resp.get("choices") or []
    if not choices:
        return
    msg = choices[0].setdefault("message", {})
    usage = dict(resp.get("usage") or {})
    if hits:
        result = await checked_answer(engine, question, str(msg.get("content") or ""), hits, usage)
    else:
        result = {"answer": NOT_FOUND, "citations": [], "verified": True, "usage": usage}
    msg["content"] = result["answer"]
    resp["usage"] = {**usage, **result["usage"]}
    resp["retrieved"] = [h.to_dict() for h in hits]
    resp["citations"], resp["verified"] = result["citations"], result["verified"]
    if "second_look" in result:
        resp["second_look"] = result["second_look"]
