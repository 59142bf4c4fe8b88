"""A speaker's view in reported speech, worded by code from the speaker's own sentence.

Minutes state views the way a secretary writes them: ``刘建国：建议把发布会提前到十月八日``, ``李娜：认为版本来不及``
— the stance verb first, the speaker's first person gone, fillers dropped, one clause long. The 1.5B, shown a
condensed chapter, mostly copied a digest line as the "view" (12 of 16 views dropped as copies in
bench/minutes_long.py, four speakers of 47 left with any view). Three uses:

- ``pointed``: on a condensed chapter the model only points at the line that states a speaker's point (its own
  wording was a copy every time); code words the strongest stance sentence of that line;
- ``reworded``: a model view that copies the speaker's words (or runs on into the next digest line) is replaced by
  the sentence it copied, reworded here and cited to its line, instead of being dropped;
- ``code_views``: a speaker who said something of substance in a chapter but got no view from the model gets the
  strongest stance sentence code finds in their lines (``我觉得…``, ``我建议…``, ``我不同意…``, ``应该…``).

Both are marked (``source``) and cite the line they came from, so a reader sees what code wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hanlin.apps.minutes.extract import clause, cue_weight, is_reply, sentences
from hanlin.apps.minutes.transcript import Utterance

VIEW_CHARS = 30  # a view's length in characters, as the prompt asks of the model
MIN_CONTENT = 6  # Chinese characters of content a view needs beyond its stance verb (``同意。`` says nothing)
CODE_VIEW_CONTENT = 10  # a view code picks on its own needs more: ``认为也挺好的`` lost what it was about

_FILLER = re.compile(r"^(?:嗯+|啊+|呃+|哦+|唉|哎|那个|就是说?|其实|然后|所以|但是|不过|对+|是的?|好的?|行|那么?|反正|总之|"
                     r"(?:另外|还有)(?:一个|个|一点|就是)?(?:问题|事情?|点)?(?:是|就是)?|说实话|老实说|坦白说|我说)[，,、：:\s]*")
_INTERJECTION = re.compile(r"[嗯呃啊]+[，,]?")
_ME = r"我(?:个人|这边|自己)?"
# stance cue → the verb minutes use for it; the first that matches wins (``不同意`` before ``同意``)
_STANCES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"{_ME}(?:不同意|不赞成|不支持)|^(?:不行|不可以|不合适|行不通)(?=[，,。])"), "不同意"),
    (re.compile(rf"{_ME}反对"), "反对"),
    (re.compile(rf"{_ME}(?:同意|赞成|支持)"), "同意"),
    (re.compile(rf"{_ME}(?:建议|提议|主张)|^(?:建议|提议)"), "建议"),
    (re.compile(rf"{_ME}(?:担心|顾虑|怕)"), "担心"),
    (re.compile(rf"{_ME}(?:觉得|认为|感觉|看来|的(?:意见|看法|想法|观点)是)|在我看来"), "认为"),
]
_WEAK = re.compile(r"应该|必须|需要|不能|没必要|最好|不如|关键是|问题是|重要的是|可以考虑|有必要|太[高贵慢多少低难大贵]|不够|风险")
_INNER = re.compile(r"就是说|其实|(?<=[，,])然后|(我们|这个|那个|就是|我|你|他|她)\1+")  # fillers; stutters (我我, 这个这个)
_DEPENDENT = re.compile(r"^(?:因此|因为|如果|虽然|而且|并且|包括|比如|对于|关于|当|等到|只要|除了)")  # half a thought
_TOPIC_CHARS = 8  # ``直播入口我觉得…``: a short topic before the stance stays; a longer run-up is dropped
_ANNOUNCE = re.compile(r"^(?:先|再|接下来|下面|然后|最后)?(?:自己)?(?:先|再)?"  # an agenda line (``我说一下…``), no point
                       r"(?:(?:说|讲|聊|汇报|介绍|补充)(?:一下|几句|两句)|一下)")
_QUESTION = re.compile(r"[?？]\s*$|要不要|是不是|能不能|可不可以|行不行|有没有")


@dataclass
class Reported:
    text: str
    strength: int  # 2: an explicit stance (``我觉得…``); 1: a weaker cue (``应该…``); 0: a statement or question
    whole: bool = True  # the point fits in the view uncut, and does not open mid-thought (``因此对于…``)
    content: int = 0  # Chinese characters of what was said, without the stance verb


def _content(text: str) -> int:
    return len(re.findall(r"[\u4e00-\u9fff]", text))


def _strip_fillers(s: str) -> str:
    for _ in range(4):
        s = _FILLER.sub("", s.strip()).strip("，,、 ")
    return s


def reported(sentence: str) -> Reported | None:
    """``sentence`` as reported speech (``认为…``, ``建议…``, ``提出…的问题``, ``表示…``), one clause of at most
    ``VIEW_CHARS`` characters, or None when what is left says too little."""
    s = _INNER.sub(lambda g: g.group(1) or "", _INTERJECTION.sub("", _strip_fillers(sentence))).strip()
    question = bool(_QUESTION.search(s))
    s = s.rstrip("。！!？?；; ")
    verb, strength, joint = "", 0, ""
    for pattern, stance in _STANCES:
        m = pattern.search(s)
        if m:
            verb, strength = stance, 2
            rest = s[m.end():]
            # a verdict keeps its pause before the reason (``我不同意，风险太大``); ``认为，…`` would not read
            joint = "，" if rest[:1] in ("，", ",", "：", ":") and stance in ("不同意", "反对", "同意") else ""
            topic = s[:m.start()]
            if len(topic) > _TOPIC_CHARS or re.search(r"[，,；;：:]", topic):
                topic = ""
            s = topic + rest.lstrip("，,：: ")
            break
    s = _INNER.sub(lambda g: g.group(1) or "", _strip_fillers(s))
    s = re.sub(r"我(?!们)", "自己", s)  # the speaker's first person, in the third
    if not verb:
        if question:
            verb = "提出"
        elif _WEAK.search(s):
            verb, strength = "认为", 1
        else:
            verb = "表示"
    room = VIEW_CHARS - 5 if verb == "提出" else VIEW_CHARS - len(verb) - len(joint)
    s = s.strip("。；;，,：:、 ")
    first = re.split(r"[，,；;]", s, maxsplit=1)[0]
    if len(s) <= room:
        body, whole = s, True
    elif _content(first) >= 8 and len(first) <= room:  # the first clause alone is the point, said whole
        body, whole = first, True
    else:
        body, whole = clause(s, room), False
    whole = whole and not _DEPENDENT.match(body)
    text = (f"提出{body}的问题" if body else "") if verb == "提出" else verb + joint + body
    content = _content(body)
    if content < MIN_CONTENT - (2 if strength == 2 else 0) or _ANNOUNCE.match(body):
        return None
    return Reported(text, strength, whole, content)


def _run_on(text: str, people: list[str]) -> int:
    """Where a copied digest line ends in ``text``: the elision mark, or the next line's ``speaker：``; -1 if it
    does not run on. Names are looked up in a set at each colon (a transcript may name thousands of speakers: no
    regex alternation of them all)."""
    ends = [i for i in (text.find("…"), text.find("...")) if i >= 0]
    names = set(people)
    longest = max(map(len, names), default=0)
    for colon in (i for i, c in enumerate(text) if c in "：:"):
        starts = [k for k in range(max(0, colon - longest), colon) if text[k:colon] in names]
        if starts:
            ends.append(starts[0])
            break
    return min(ends, default=-1)


def copies(text: str, cited: str, people: list[str]) -> bool:
    """A model view that repeats the speaker's words instead of stating the point: it runs on into another digest
    line (``…`` or ``陈晨：``), or most of it is one verbatim stretch of the cited lines."""
    if _run_on(text, people) >= 0:
        return True
    core = text.rstrip("。")
    if len(core) < 12:
        return False
    longest = _longest_common(core, cited)
    return longest >= 16 or longest >= 0.7 * len(core)


def _longest_common(a: str, b: str) -> int:
    """Length of the longest stretch of ``a`` that occurs verbatim in ``b`` (both short: quadratic is fine)."""
    best = 0
    for i in range(len(a)):
        j = i + best + 1
        while j <= len(a) and a[i:j] in b:
            best = j - i
            j += 1
    return best


def reworded(text: str, mine: list[Utterance], people: list[str]) -> tuple[str, int] | None:
    """The model copied one of the speaker's sentences (``mine``: their lines in the chapter, cited or not): that
    sentence, as reported speech, and the line it is on. Candidates go by the longest verbatim stretch they share
    with ``text`` (4+ characters); one that is a decision, commitment, assignment or correction (an item already
    listed) or not a whole point is passed over. None when no candidate is left."""
    end = _run_on(text, people)
    text = text[:end] if end >= 0 else text
    cands = sorted(((_longest_common(text, s), -k, s, u.index) for k, (u, s) in
                    enumerate((u, s) for u in mine for s in sentences(u.text))), reverse=True)
    for overlap, _, s, index in cands:
        if overlap < 4:
            break
        said = _usable(s)
        if said is not None:
            return said.text, index
    return None


def _usable(sentence: str) -> Reported | None:
    """``sentence`` reported, if it makes a view: a whole point of some length that is not an item of its own."""
    said = reported(sentence)
    if said and said.whole and cue_weight(sentence) < 3 and said.content >= MIN_CONTENT + 2:
        return said
    return None


def pointed(lines: list[Utterance]) -> tuple[str, int] | None:
    """The view in the line(s) the model pointed at: the strongest stance sentence there (``我觉得…`` over
    ``应该…`` over a statement), as reported speech, and its line."""
    best: tuple[tuple[int, int], str, int] | None = None
    for u in lines:
        for k, s in enumerate(sentences(u.text)):
            said = _usable(s)
            if said is not None and (best is None or (said.strength, -k) > best[0]):
                best = ((said.strength, -k), said.text, u.index)
    return (best[1], best[2]) if best else None


def code_views(utts: list[Utterance], skip: set[str], cap: int) -> list[dict[str, object]]:
    """For up to ``cap`` speakers not in ``skip`` (those who already have a view), ranked by how much they said,
    the strongest stance sentence in their own lines, reported. A decision, commitment (``我来…``), assignment or
    correction is an item of its own and a bare reply is nothing: neither becomes a view."""
    said: dict[str, int] = {}
    best: dict[str, tuple[tuple[int, int], dict[str, object]]] = {}
    for u in utts:
        said[u.speaker] = said.get(u.speaker, 0) + len(u.text)
        if u.speaker in skip or is_reply(u.text):
            continue
        for s in sentences(u.text):
            r = _usable(s)
            if r is None or r.strength == 0 or r.content < CODE_VIEW_CONTENT:
                continue
            rank = (r.strength, -abs(r.content - 16))
            if u.speaker not in best or rank > best[u.speaker][0]:
                best[u.speaker] = (rank, {"speaker": u.speaker, "text": r.text, "lines": [u.index],
                                          "source": "extractive"})
    ranked = sorted(best, key=lambda who: -said[who])[:cap]
    return [best[who][1] for who in ranked]
