"""Grounded answers: numbered passages in, an answer with [n] markers and a verified citations list out.

Nothing relevant retrieved → the honest "资料中没有找到相关信息。" without asking the model. The model's markers are
checked: out-of-range numbers are dropped, the rest renumbered in order of first use so ``[1]`` is
``citations[0]``. An answer without any valid marker gets the passage that shares the most words with it (then
``repaired: true``), or none and ``verified: false``.

Small models over-refuse: told "answer 资料中没有找到相关信息 when the passages lack the answer", the 1.5B refused
8 of 18 answerable kb-gold questions whose answer was verbatim in passage [1] — and kept refusing when asked again
without the refusal option. Refusals are therefore checked too: when the model refuses but a passage holds a
sentence with most of the question's content words (or is a strong match by cosine, or a clear table match), the
model is asked once more for JSON ``{"quote": the sentence that answers, "answer": …}``. Code keeps that answer only
when the evidence sentence (the quote found in a passage, else the passage sentence closest to the answer) holds
≥ ``EVIDENCE_MIN`` of the question's content words (or its passage is a strong or clear table match), at most half
of the question's words that the answer repeats are missing from it (its heading and document count), every figure of the answer is in it, a wordy answer's new words
are mostly in it, and the passages name every year the question asks about; otherwise the refusal stands
(``second_look`` says what happened). Complete chat answers get the same checks.

A question that states a number (``30万元``, ``满12年``) against a tiered rule (bands of that unit) is answered by
code with the band's clause, without the model (``tier``; see ``knowledge/tiers.py``); so is a table lookup whose
row (the only one naming a word of the question) and column (the only header holding one) are both unique.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from hanlin.engine.ask import add_usage, ask_text
from hanlin.engine.base import Engine
from hanlin.knowledge.fold import fold
from hanlin.knowledge.retrieve import Hit
from hanlin.knowledge.tiers import table_cell, tier_clause

NOT_FOUND = "资料中没有找到相关信息。"
_REFUSALS = ("没有找到相关信息", "没有找到相关", "无法回答", "未提及", "没有提及", "没有提到", "资料中没有", "无法根据")
_MARKER = re.compile(r"[\[【]\s*(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\s*[\]】]")
PASSAGE_CHARS = 500
BARE_QUOTE_MIN = 0.2  # share of the question's bigrams the quoted sentence must hold to stand for a bare "[1]"

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


EVIDENCE_MIN = 0.6  # share of the question's content words an evidence sentence must hold
_QUESTION_WORDS_TEXT = (
    "多少 几 几次 几天 几个 几位 几年 什么 什么样 哪些 哪个 哪 哪里 谁 怎么 怎样 如何 是否 可以 能 能够 需要 应该 应 最多 至少 "
    "最少 最晚 最早 多久 多长 多大 多高 每个 有 是 的 要 吗 呢 了 在 和 及 与 时 时候 什么时候 范围 一共 总共 请问 我们 公司的")
_QUESTION_WORDS = frozenset(_QUESTION_WORDS_TEXT.split())
_EVIDENCE_SPLIT = re.compile(r"[^。！？!?\n]+[。！？!?]?")
QUOTE_SCHEMA = {"type": "object", "properties": {
    "quote": {"type": "string", "maxLength": 160}, "answer": {"type": "string", "maxLength": 120}},
    "required": ["quote", "answer"]}
QUOTE_PROMPT = ("你是企业知识库助手。从下面编号的资料中找出能回答问题的那一句话，原样抄在 quote 里，"
                "再在 answer 里用一句话简洁回答。只用资料里的内容。")


def content_words(question: str) -> list[str]:
    """What the question is about: its words (jieba) without question words, particles and punctuation."""
    import jieba

    words = [w for w in jieba.lcut(fold(question)) if re.search(r"[\w]", w) and w not in _QUESTION_WORDS]
    longer = [w for w in words if len(w) >= 2]
    return list(dict.fromkeys(longer if len(longer) >= 2 else words))


def word_coverage(question: str, text: str) -> float:
    """Share of the question's content words that occur in ``text`` (look-alike code points folded)."""
    words = content_words(question)
    folded = fold(text).lower()
    return sum(w.lower() in folded for w in words) / len(words) if words else 0.0


def evidence_sentences(hit: Hit) -> list[str]:
    return [m.group(0).strip() for m in _EVIDENCE_SPLIT.finditer(hit.row.text) if m.group(0).strip()]


def evidence_coverage(question: str, hit: Hit) -> float:
    """The best share of the question's content words one sentence (or table row) of ``hit`` holds, its document
    name and heading counted as context."""
    ctx = f"{hit.row.document} {hit.row.heading} "
    return max((word_coverage(question, ctx + s) for s in evidence_sentences(hit)), default=0.0)


def _evidence(hits: list[Hit], quote_text: str, answer: str) -> tuple[int, str]:
    """(hit index, sentence) that backs an answer: the quoted sentence when it is in a passage, else the passage
    sentence sharing most character bigrams with the answer."""
    best = (-1, "", 0.0)
    if len(re.sub(r"\W", "", quote_text)) < 6:  # "第五条": a label, not a sentence (it matched the wrong article)
        quote_text = ""
    for i, h in enumerate(hits):
        for sent in evidence_sentences(h):
            score = support(quote_text, sent) if quote_text else 0.0
            if score >= 0.8 and score > best[2]:
                best = (i, sent, score)
    if best[0] >= 0:
        return best[0], best[1]
    target = _bigrams(answer)
    scored = [(len(_bigrams(sent) & target), i, sent) for i, h in enumerate(hits) for sent in evidence_sentences(h)]
    if not scored:
        return -1, ""
    _, i, sent = max(scored, key=lambda t: t[0])
    return i, sent


async def second_look(engine: Engine, question: str, hits: list[Hit], refused: dict[str, Any],
                      usage: dict[str, int], *, max_tokens: int = 384,
                      temperature: float = 0.1) -> dict[str, Any]:
    """The model refused although a passage seems to hold the answer: ask for the answering sentence and the answer
    as JSON, and keep the answer only when code finds it backed (see the module docstring)."""
    from hanlin.engine.ask import ask_json

    msgs = [{"role": "system", "content": QUOTE_PROMPT},
            {"role": "user", "content": f"资料：\n{passages_text(hits)}\n\n问题：{question}"}]
    res = await ask_json(engine, msgs, QUOTE_SCHEMA, max_tokens=min(max_tokens, 320), temperature=0.0,
                         on_cut="salvage", attempts=1)
    total: dict[str, int] = {}
    add_usage(total, usage)
    add_usage(total, res.usage)
    data = res.data if isinstance(res.data, dict) else {}
    # the checks tokenise with jieba and scan every passage: a worker thread, not the event loop
    return await asyncio.to_thread(_judged, question, hits, refused, total, data)


def _judged(question: str, hits: list[Hit], refused: dict[str, Any], total: dict[str, int],
            data: dict[str, Any]) -> dict[str, Any]:
    """The second look's answer kept only when code finds it backed by one passage, else the refusal."""
    said = re.sub(r"^\[\d+\]（[^）]*）", "", str(data.get("quote") or "")).strip()
    answer = _MARKER.sub("", str(data.get("answer") or "")).strip()
    look: dict[str, Any] = {"kept": False, "quote": said[:160]}
    if not answer or is_refusal(answer):
        return {**refused, "usage": total, "second_look": look}
    i, evidence = _evidence(hits, said, answer)
    if i < 0:
        return {**refused, "usage": total, "second_look": look}
    hit = hits[i]
    covered = word_coverage(question, f"{hit.row.document} {hit.row.heading} {evidence}")
    missing = unsupported(answer, evidence, question)
    new = _bigrams(answer) - _bigrams(question)
    wordy = not figures(answer) and bool(new) and len(new & _bigrams(evidence)) / len(new) < 0.5
    years = missing_years(question, [hit])
    look.update({"evidence": evidence[:160], "coverage": round(covered, 3), "unsupported": missing,
                 "missing_years": years})
    on_topic = covered >= EVIDENCE_MIN or hit.strong or hit.clear_table_match  # by its words, or by the cosine
    context = fold(f"{hit.row.document} {hit.row.heading} {evidence}").lower()
    claimed = [w for w in content_words(question) if w.lower() in fold(answer).lower()]
    unbacked = [w for w in claimed if w.lower() not in context]  # "带薪病假" answered from a 年休假 row
    look["unbacked_words"] = unbacked
    if not on_topic or missing or wordy or years or (claimed and len(unbacked) > len(claimed) / 2):
        return {**refused, "usage": total, "second_look": look}
    return {"answer": f"{answer} [1]", "citations": [citation(hit, 1, evidence)], "verified": True,
            "repaired": False, "unsupported": [], "usage": total, "second_look": {**look, "kept": True}}


def _finalized(text: str, hits: list[Hit], question: str) -> tuple[dict[str, Any], bool]:
    """:func:`finalize` and whether a refusal deserves the :func:`second_look` (CPU only: jieba, sentence checks)."""
    result = finalize(text, hits, question)
    look = result["answer"] == NOT_FOUND and any(
        h.strong or h.clear_table_match or evidence_coverage(question, h) >= EVIDENCE_MIN for h in hits)
    return result, look


async def checked_answer(engine: Engine, question: str, text: str, hits: list[Hit], usage: dict[str, int], *,
                         max_tokens: int = 384, temperature: float = 0.1) -> dict[str, Any]:
    """The model's ``text`` checked against the passages it was given (:func:`finalize`, in a worker thread: the
    checks tokenise every passage); a refusal despite a strong match gets the :func:`second_look`."""
    result, look = await asyncio.to_thread(_finalized, text, hits, question)
    if not look:
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


TOP_EVIDENCE_MIN = 0.8  # a top hit under the relevance bar still counts when one of its sentences holds this share


def relevant_hits(question: str, hits: list[Hit]) -> list[Hit]:
    """The hits over the relevance bar; else the first hit when one of its sentences holds nearly all of the
    question's content words (a long multi-article chunk's cosine is diluted: ``登录密码至少要多少位`` against a
    seven-article regulation scored 0.878 while its second article answers it word for word)."""
    relevant = [h for h in hits if h.relevant]
    if relevant or not hits:
        return relevant
    return [hits[0]] if evidence_coverage(question, hits[0]) >= TOP_EVIDENCE_MIN else []


def _answered_by_code(question: str, hits: list[Hit]) -> tuple[dict[str, Any] | None, list[Hit]]:
    """What code can settle before asking the model (CPU only; jieba's tagger loads its model on first use, seconds
    that must not stall the event loop): the refusal, or a tiered rule's or table cell's answer; else the relevant
    hits to ask about."""
    relevant = relevant_hits(question, hits)
    if not relevant:
        return {"answer": NOT_FOUND, "citations": [], "verified": True, "repaired": False, "usage": {}}, []
    gap = missing_entities(question, relevant)
    if gap:
        return {"answer": NOT_FOUND, "citations": [], "verified": True, "repaired": False, "usage": {},
                "missing_entities": gap}, []
    words = content_words(question)
    for h in relevant:  # a tiered rule and a number in the question, or a table cell: code picks (knowledge/tiers.py)
        clause = tier_clause(question, h.row.text) or table_cell(words, h.row.text)
        if clause:
            return {"answer": f"{clause} [1]", "citations": [citation(h, 1, clause)], "verified": True,
                    "repaired": False, "unsupported": [], "usage": {}, "tier": clause}, []
    return None, relevant


async def grounded_answer(engine: Engine, question: str, hits: list[Hit], *, max_tokens: int = 384,
                          temperature: float = 0.1) -> dict[str, Any]:
    """Answer ``question`` from the relevant ``hits`` only; a question naming a place, person, organisation or
    term that none of them contains is answered with the refusal, without asking the model."""
    done, relevant = await asyncio.to_thread(_answered_by_code, question, hits)
    if done is not None:
        return done
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
