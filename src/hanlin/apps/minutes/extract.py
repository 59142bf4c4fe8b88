"""Code that reads decisions and action items out of the utterances (patterns, not the model).

- **Owners**: who committed (``我来…``/``我负责…``) or who was assigned (``请赵磊负责…``, ``赵磊，你周五前把…``,
  ``你…前把…`` → the addressee: the person named, else the one who answers ``好的``, else the one spoken to)
  in an utterance. ``owners_of`` is what verification checks a model's owner against.
- **Candidates**: sentences that state a decision or assign a task, as items cited to their utterance. They are
  merged with the model's items (``"source": "extractive"``) and go through the same checks.
- **Rejections and corrections**: a proposal answered ``不行``/``不同意`` is not a decision; a later number for the
  same thing (``更正一下，是45万``) wins over the earlier one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from hanlin.apps.minutes.transcript import Utterance

_SENT = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]?")
_VERBS = (r"负责|牵头|跟进|跟一下|落实|完成|提交|准备|整理|联系|对接|安排|起草|写|做|出|发|改|调整|更新|确认|核对|汇总|"
          r"搞定|处理|推进|测试|上线|补|约|订|申请|评估|梳理|修复|排查|部署|对一下|过一下|发给|报给|交|拿出|拟|找|统计|签|"
          r"开通|开启|开起来|查|清理|排|给到|提供|买|采购|招|面试|培训|通知|汇报")
# first-person commitment: 我来… / 我负责… / 我周五前把… / 交给我 / 包在我身上
_COMMIT = re.compile(rf"(?<![你他她])我(?!们|觉得|建议|提议|认为|看|想|的意见|说|知道|同意|确认一下|补充)(这边|这里)?(来|去|负责|会|可以|就|先|今天|明天|后天|下周|本周|这周|周[一二三四五六日末]|"
                     rf"月底|\d{{1,2}}[月号日]|马上|尽快|争取|回头)?[^，。！？,]{{0,10}}?({_VERBS})|交给我|包在我身上|"
                     rf"我们(部门|组|团队|这边|科室|小组)?[^，。！？,]{{0,6}}?(来|负责)[^，。！？,]{{0,4}}?({_VERBS})|"
                     r"\bI(?:'ll| will)\b", re.I)
# assignment by name: 请赵磊负责… / 让李娜来… / 由王芳跟进 / 赵磊负责… / 赵磊，你…
_ASSIGN_PREFIX = re.compile(r"(请|让|由|麻烦|安排|辛苦)$")
_YOU = re.compile(rf"你(们)?(这边)?(来|去|负责|先|再|就|帮忙|帮我|今天|明天|后天|下周|本周|这周|周[一二三四五六日末]|月底|"
                  rf"[^，。！？,]{{0,8}}?(前|之前|以前)把|[^，。！？,]{{0,6}}?把|[^，。！？,]{{0,6}}?({_VERBS}))")
_QUESTION = re.compile(r"谁来|谁负责|谁去|谁能|谁有空|有没有人|[?？]\s*$")
_NEGATED = re.compile(r"不用|不需要|不必|先不|暂不|暂时不|不要|别(再)?|没必要|不着急|以后再说|回头再说|再议|待定|还没定|未定|再看看")
_AFFIRM = re.compile(r"^(好|行|可以|没问题|收到|明白|OK|ok|嗯|是的|没有问题|好嘞|可以的|我来|我负责|我会)")
_REPLY = re.compile(r"^(好的?|行|可以|没问题|收到|明白|OK|ok|嗯|是的|没有问题|好嘞|可以的)[，,。！!\s]")
_DECISION = re.compile(r"决定|定了|定下来|定为|就这么定|就这样定|就按(这个|这样|[^，。]{0,12}?)(办|来|执行)|一致同意|同意(这个|该|此)?方案|"
                       r"通过了?|拍板|确定(了|下来|为)|批准|就这么办|那就这样|没有异议|达成(一致|共识)|(还是|就)按原(计划|方案)|"
                       r"维持原(计划|方案|定)|^(好|行|嗯|对)?[，,]?\s*那就[^，。？?]{4,}|还是按|"
                       r"同意[^，。]{0,8}?(意见|建议|方案|做法)|以[^，。]{1,10}为准|"
                       r"\b(we|we've|we have)\s+(decided|agreed)\b", re.I)
# weaker cues: a settled choice said plainly (``还是六所。``), the status quo kept against a proposal (``目标不能降``,
# ``不能直接续``). They count only where the utterance holds no explicit decision.
_DECISION_WEAK = re.compile(r"(?:^|[，,])\s*(?:那|那就|我们|所以)?还是(?!觉得|认为|建议|希望|想|要不|有|没|很|挺|比较|不错|得|先)[^，。？?！!]{1,8}[。！!]?$|"
                            r"不能(再)?(降|减|砍|变|动|改|涨|推迟|延期|提前|取消|直接[\u4e00-\u9fff])|(维持|保持)不变|照旧")
_DECISION_NEG = re.compile(r"不同意|放一放|先放|搁置|以后再说|回头再说|再说吧|没有?决定|没定|未定|还没确定|不能确定|不确定|待定|再定|没通过|不通过|不批准|没有达成|决定不了|"
                           r"先不定|不要定")
_REJECT = re.compile(r"不行|不同意|否决|不采纳|不考虑|驳回|不可以|不能这么|算了|不批|不合适|行不通|不太行|没法|不现实|"
                     r"不能(这样|这么|接受)|\bno\b|disagree|reject", re.I)
_CORRECT = re.compile(r"更正|纠正|说错了|口误|不对[，,]?(应该)?是|应该是|改成|改为|调整为|调整到|修正|以[^，。]{0,6}为准|"
                      r"不是[^，。]{1,12}[，,]?而?是")
_PROPOSAL_LEAD = re.compile(r"^(那|那么|就|还是|好吧|好的?|行|嗯|对|可以|收到|明白|同意(?=[，,])|我觉得|我建议|我提议|建议|要不|要不然|我看|我们|大家)[，,]?\s*")
_DUE = re.compile(r"([\d一二三四五六七八九十]{1,3}月[\d一二三四五六七八九十]{1,3}[日号](之前|以前|前)?|"
                  r"[\d一二三四五六七八九十]{1,3}月底(之前|以前|前)?|下个?月[^，。]{0,4}?[号日底](之前|以前|前)?|下周[一二三四五六日天]?|本周[一二三四五六日天]?|这周[一二三四五六日天]?|"
                  r"明天|后天|今天|月底|周[一二三四五六日末](之前|以前|前)?|\d{1,2}号(之前|以前|前)?|年底|季度末|"
                  r"next week|tomorrow|by \w+day)", re.I)
_CN = "零一二两三四五六七八九十"
DATE = re.compile(rf"[\d{_CN}]{{1,3}}月[\d{_CN}]{{1,3}}[日号]|(?:本|这|下个?|上个?)(?:月|周|星期)(?:内|底|初|末|"
                  rf"[\d{_CN}]{{1,3}}[号日]|[一二三四五六日天])?|月底|年底|[\d{_CN}]{{1,3}}[号日](?=前|之前|以前)")
NUMBER = re.compile(rf"{DATE.pattern}|百分之[\d.{_CN}百]+|(?:\d+(?:\.\d+)?|[{_CN}百千]+)\s*"
                    r"(?:万元|万|亿|元|块|%|个|人|天|周|月|号|日|点|小时|台|套|份|家|名|次|页|版|期|轮|所|场|k|K)")
TITLES = r"总|经理|老师|工|主任|局|处|部长|科长|姐|哥|主管|组长|总监"


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.findall(text) if len(s.strip()) >= 2]


def is_reply(text: str) -> bool:
    """``好的，我周五前发。``: an answer to the line before."""
    return bool(_REPLY.match(text.strip()))


def resolve_name(name: str, speakers: Iterable[str]) -> str | None:
    """A name as said in a line (``赵磊``, ``王总``, ``建国``) → the speaker it means, if exactly one."""
    name = name.strip()
    if len(name) < 2:
        return None
    people = [s for s in speakers if s]
    exact = [s for s in people if s == name]
    if exact:
        return exact[0]
    m = re.fullmatch(rf"(?:小|老)?(\w)(?:{TITLES})", name)
    if m:
        hits = [s for s in people if s.startswith(m.group(1))]
        return hits[0] if len(hits) == 1 else None
    hits = [s for s in people if len(s) >= 2 and (s.endswith(name) or name.endswith(s))]
    return hits[0] if len(hits) == 1 else None


def _forms(s: str) -> set[str]:
    """How a speaker may be named in a line: full name, given name (3-character names), surname + title."""
    forms = {s}
    if len(s) == 3 and re.fullmatch(r"[\u4e00-\u9fff]+", s):
        forms.add(s[1:])
    if re.fullmatch(r"[\u4e00-\u9fff]{2,3}", s):
        forms |= {s[0] + t for t in TITLES.split("|")} | {"小" + s[0], "老" + s[0]}
    return forms


def named_people(text: str, speakers: Iterable[str]) -> list[tuple[int, str]]:
    """(position, speaker) for every speaker named in ``text``; a surname form only when it is unambiguous."""
    people = [s for s in speakers if s and not re.fullmatch(r"(发言人|说话人|Speaker ?)\d+", s)]
    found: set[tuple[int, str]] = set()
    for s in people:
        for f in _forms(s):
            if f != s and f[0] in "小老" + s[0] and len(f) == 2 and sum(p.startswith(s[0]) for p in people) > 1:
                continue  # 王总 with two 王s among the speakers names nobody for sure
            for m in re.finditer(re.escape(f), text):
                found.add((m.start(), s))
    return sorted(found)


def _assignees(sentence: str, speakers: list[str]) -> list[str]:
    """People a sentence assigns a task to by name (``请赵磊负责``, ``赵磊，你…``, ``赵磊周五前把…``)."""
    out: list[str] = []
    for pos, person in named_people(sentence, speakers):
        said = next((f for f in sorted(_forms(person), key=len, reverse=True) if sentence.startswith(f, pos)), person)
        rest = sentence[pos + len(said):]
        assigned = _ASSIGN_PREFIX.search(sentence[max(0, pos - 2):pos]) or re.match(
            rf"^(来|去|你|[，,]\s*你|[，,]?\s*(负责|牵头|跟进)|[^，。]{{0,6}}?(前|之前)把|({_VERBS}))", rest)
        if assigned and person not in out:
            out.append(person)
    return out


def sentence_owners(utts: list[Utterance], pos: int, sentence: str, speakers: list[str]) -> list[str]:
    """Who commits to or is assigned a task in one sentence of ``utts[pos]`` (nobody for questions/refusals)."""
    if _QUESTION.search(sentence) or _NEGATED.search(sentence):
        return []
    me = utts[pos].speaker
    named = _assignees(sentence, speakers)
    if _COMMIT.search(sentence) and not _YOU.search(sentence):
        return [me, *[p for p in named if p != me]]
    if named:
        return [p for p in named if p != me]
    if _YOU.search(sentence):
        who = addressee(utts, pos, speakers, sentence)
        return [who] if who else []
    if _COMMIT.search(sentence):
        return [me]
    return []


def owners_in(utts: list[Utterance], pos: int, speakers: list[str]) -> list[str]:
    """Everyone who commits to or is assigned a task in ``utts[pos]``."""
    found: list[str] = []
    for s in sentences(utts[pos].text):
        found += sentence_owners(utts, pos, s, speakers)
    return list(dict.fromkeys(found))


def addressee(utts: list[Utterance], pos: int, speakers: list[str], sentence: str) -> str | None:
    """Whom ``你…`` speaks to: a person named in the utterance, else who answers ``好的``, else who spoke before."""
    me = utts[pos].speaker
    named = [p for _, p in named_people(utts[pos].text, speakers) if p != me]
    if named:
        return named[-1] if sentence.find("你") > 0 and named else named[0]
    if pos + 1 < len(utts) and utts[pos + 1].speaker != me and _AFFIRM.search(utts[pos + 1].text.strip()):
        return utts[pos + 1].speaker
    for j in range(pos - 1, max(-1, pos - 4), -1):
        if utts[j].speaker != me:
            return utts[j].speaker
    others = [s for s in speakers if s != me]
    return others[0] if len(others) == 1 else None


def clause(text: str, limit: int = 60) -> str:
    """``text`` cut at a clause boundary within ``limit`` characters (never inside a number)."""
    text = text.strip().strip("。；;，,：:、 ")
    if len(text) <= limit:
        return text
    cut = max(text.rfind(p, 0, limit) for p in "，,；;、 ")
    if cut >= limit // 3:
        return text[:cut]
    end = limit
    while end > 0 and (text[end - 1].isdigit() or text[end:end + 1].isdigit() or text[end - 1] in ".,"):
        end -= 1
    return text[:end]


def _task_text(sentence: str, speakers: list[str], before: str = "") -> str:
    """The task as said, without the lead (``好的，``) and the addressee; ``这个事`` gets what it refers to."""
    t = strip_lead(sentence)
    for _, p in named_people(t[:8], speakers):
        t = re.sub(rf"^(请|让|由|麻烦)?{re.escape(p)}[，,]?\s*(你)?", "", t)
    t = re.sub(r"^(好的?|行|没问题|可以)[，,]\s*", "", t)
    you = t.rfind("你")
    if you >= 0 and len(re.sub(r"\W", "", t[you + 1:])) >= 6:  # ``这边认识的人多，你下周五前找…`` → the task itself
        t = re.sub(r"^(们|这边|来|去)", "", t[you + 1:])
    if before and re.search(r"这个事|这件事|这事|此事|这个活", t):
        t = clause(strip_lead(re.sub(r"^.*?(决定|同意)", "", before)), 30) + "：" + t
    return clause(t)


def _previous_sentence(utts: list[Utterance], pos: int, sentence: str) -> str:
    own = sentences(utts[pos].text)
    k = own.index(sentence) if sentence in own else 0
    if k:
        return own[k - 1]
    prev = sentences(utts[pos - 1].text) if pos else []
    return prev[-1] if prev else ""


def _approved_text(utts: list[Utterance], pos: int) -> str:
    """What an approval settles: the rest of the approving sentence, else the proposal before it."""
    first = sentences(utts[pos].text)[0]
    rest = strip_lead(_APPROVE.sub("", first, count=1))
    if len(re.sub(r"\W", "", rest)) >= 6:
        return clause(rest)
    prev = next(utts[j] for j in range(pos - 1, -1, -1) if utts[j].speaker != utts[pos].speaker)
    return clause(strip_lead(sentences(prev.text)[-1]))


def _has_task(sentence: str) -> bool:
    """A task sentence says what to do (a verb), not only ``好的，我来。``."""
    return len(re.sub(r"\W", "", _PROPOSAL_LEAD.sub("", sentence))) >= 6 and bool(re.search(_VERBS, sentence))


def strip_lead(text: str) -> str:
    for _ in range(3):
        text = _PROPOSAL_LEAD.sub("", text.strip())
    return text


def decision_text(utts: list[Utterance], pos: int, sentence: str, topic: str = "") -> tuple[str, list[int]]:
    """A decision sentence, or — for a bare ``那就这么定了`` — the proposal it settles (cited too). A short one
    under a known agenda item (``对，不能直接续。`` under ``供应商续签``) stays as said; the topic names it."""
    core = re.sub(r"(那|那么|好的?|行|嗯|我们|大家)?[，,]?\s*(就)?(这么定了?|这样定了?|就这么办|定了|没有异议)[。！!]?", "", sentence)
    core = re.sub(r"^(更正一下|纠正一下)[，,]?", "", core).strip("，,。 ")
    core = core if _DECISION_WEAK.match(core) else strip_lead(core).strip("，,。 ")
    if not _DECISION.search(core) and re.search(r"(?:^|[，,])\s*(?:那|那就|我们|所以)?还是", core):
        core = re.split(r"[，,]", core)[-1].strip()  # ``十所太多了，人手不够，还是六所`` → the choice, not the reasons
        core = re.sub(r"^(那|那就|我们|所以)", "", core)
        return clause(core), [utts[pos].index]
    topic = re.sub(r"\W|以|为准|是|就|对", "", NUMBER.sub("", core))
    nums = [m.group(0) for m in NUMBER.finditer(core)]
    if nums and len(topic) < 4:  # ``以百分之四为准``: the statement it settles, with this number
        for j in range(pos - 1, max(-1, pos - 4), -1):
            for s in reversed(sentences(utts[j].text)):
                if _CORRECT.search(s):
                    continue
                olds = [m.group(0) for m in NUMBER.finditer(s) if _unit(m.group(0)) == _unit(nums[-1])]
                if olds and len(NUMBER.sub("", s)) >= 8:
                    fixed = s[::-1].replace(olds[-1][::-1], nums[-1][::-1], 1)[::-1]
                    return clause(strip_lead(fixed)), [utts[j].index, utts[pos].index]
    if len(re.sub(r"\W", "", core)) >= 6 or (topic and len(re.sub(r"\W", "", core)) >= 4):
        return clause(core), [utts[pos].index]
    for j in range(pos - 1, max(-1, pos - 3), -1):
        for s in reversed(sentences(utts[j].text)):
            if not _QUESTION.search(s) and len(s) >= 6:
                return clause(strip_lead(s)), [utts[j].index, utts[pos].index]
    return clause(sentence), [utts[pos].index]


def states_decision(text: str) -> bool:
    """A decision cue that is not negated (``不同意``, ``还没定``) and not a question."""
    return any(_decision_cue(s) for s in sentences(text))


def _decision_cue(sentence: str) -> int:
    """2: an explicit decision (``决定…``, ``那就…``); 1: a weaker one (``还是六所``, ``目标不能降``); 0: none."""
    if _DECISION_NEG.search(sentence) or _QUESTION.search(sentence):
        return 0
    return 2 if _DECISION.search(sentence) else 1 if _DECISION_WEAK.search(sentence) else 0


def cue_weight(sentence: str) -> int:
    """How much a sentence matters to minutes by its words alone: 3 a decision, a commitment, an assignment or a
    correction; 2 a rejection or a due date; 1 a figure; 0 none. (What a long meeting's condensed reading keeps.)"""
    if _decision_cue(sentence) or _COMMIT.search(sentence) or _YOU.search(sentence) or _CORRECT.search(sentence):
        return 3
    if _REJECT.search(sentence) or _DUE.search(sentence) or _TOPIC[0].search(sentence):  # ``第二件事，…``
        return 2
    return 1 if _FIGURE.search(sentence) else 0


_FIGURE = re.compile(rf"\d|百分之|{DATE.pattern}|[两三四五六七八九十百千万亿]+(?:万|亿|元|块|人|天|周|个月|年|小时|台|套|家|名|倍|所|场)")
_TOPIC = (re.compile(r"第[一二三四五六七八九十\d]+(件事|项|个议题|个事)[，,：:是]?\s*(?:说一下|讲一下|是)?([^，。！？,!?]{2,12})"),
          re.compile(r"(?:先|再|接下来|下面|然后|最后)(?:说|讲|聊|看|讨论|过)(?:一下)?([^，。！？,!?]{2,12})"),
          re.compile(r"([^，。！？,!?]{2,10}?)(?:怎么|如何)(?:选|定|办|安排|处理|弄)"),
          re.compile(r"(?:关于|说到)([^，。！？,!?]{2,12})"))


def agenda_topic(utts: list[Utterance], pos: int, back: int = 12) -> str:
    """The agenda item under discussion at ``utts[pos]``: the nearest ``第二件事，发布会`` / ``先说预算`` /
    ``宣讲会的学校怎么选？`` said in this or the ``back`` utterances before ("" when none)."""
    for j in range(pos, max(-1, pos - back - 1), -1):
        for s in reversed(sentences(utts[j].text)):
            for rx in _TOPIC:
                m = rx.search(s)
                if m:
                    topic = re.sub(r"^(另外|还有|然后|最后|接着)[，,]?", "", strip_lead(m.group(m.lastindex or 1)))
                    topic = topic.strip("的 ")
                    if 2 <= len(topic) <= 12 and not re.search(r"我|你|他|情况|一下|这个|那个", topic):
                        return topic
    return ""


def with_topic(text: str, topic: str) -> str:
    """``按原计划十月十五日`` → ``发布会：按原计划十月十五日`` when a short text does not name its topic."""
    if not topic or len(re.sub(r"\W", "", text)) > 10 or any(topic[i:i + 2] in text for i in range(len(topic) - 1)):
        return text  # a longer sentence says what it is about
    return f"{topic}：{text}"


_APPROVE = re.compile(r"^(那|那就|这个|加人|好)?(可以|同意|批准|没问题)[，,。！!]")
_ASK = re.compile(r"建议|提议|需要|要不要|能不能|是否|可不可以|行不行|申请|想要|打算")


def approves(utts: list[Utterance], pos: int) -> bool:
    """``加人可以，从外包借一个``: an approval of what the previous speaker asked for or proposed."""
    prev = next((utts[j] for j in range(pos - 1, max(-1, pos - 3), -1) if utts[j].speaker != utts[pos].speaker), None)
    first = sentences(utts[pos].text)[:1]
    return bool(prev and first and _APPROVE.search(first[0]) and _ASK.search(prev.text)
                and not _QUESTION.search(prev.text.strip()[-1:] or ""))


def rejected_after(utts: list[Utterance], pos: int) -> bool:
    """The next person to speak after ``utts[pos]`` opens with a refusal (``不行``, ``不同意``)."""
    for j in range(pos + 1, min(len(utts), pos + 4)):
        if utts[j].speaker == utts[pos].speaker:
            continue
        first = sentences(utts[j].text)[:1]
        return bool(first) and bool(_REJECT.search(first[0]))
    return False


def extractive_items(utts: list[Utterance], speakers: list[str], per_kind: int = 6) -> dict[str, list[dict[str, Any]]]:
    """Decisions and action items that the patterns find, each cited to its utterance: at most ``per_kind`` of
    each, the strongest kept (a short turn, a due date, an explicit decision cue: ``_strongest``), listed in meeting
    order."""
    decisions: list[tuple[int, dict[str, Any]]] = []
    actions: list[tuple[int, dict[str, Any]]] = []
    for pos, u in enumerate(utts):
        short = len(u.text) <= SHORT_TURN
        if approves(utts, pos) and not states_decision(u.text):
            decisions.append((short, {"text": _approved_text(utts, pos), "lines": [u.index]}))
        said = sentences(u.text)
        cues = [_decision_cue(s) for s in said]
        best = max(cues, default=0)  # a weaker cue counts only where the utterance states no explicit decision
        for s, cue in zip(said, cues, strict=True):
            if cue and cue == best and not rejected_after(utts, pos):
                topic = agenda_topic(utts, pos)
                text, lines = decision_text(utts, pos, s, topic)
                decisions.append((short + (cue == 2), {"text": with_topic(text, topic), "lines": lines}))
                best = 3  # one decision per utterance
        for s in said:
            own = [] if _CORRECT.search(s) else sentence_owners(utts, pos, s, speakers)
            if own == [u.speaker] and pos and _REPLY.match(u.text.strip()) and \
                    u.speaker in owners_in(utts, pos - 1, speakers):
                continue  # ``好的，我周五前发`` answers the assignment just before: that item already stands
            if own and _has_task(s):
                due = _DUE.search(s)
                before = _previous_sentence(utts, pos, s)
                actions.append((short + 2 * bool(due), {"owner": own[0], "task": _task_text(s, speakers, before),
                                                        "due": due.group(0) if due else "", "lines": [u.index]}))
    return {"views": [], "decisions": _strongest(decisions, per_kind), "action_items": _strongest(actions, per_kind)}


# A turn this short is where decisions and commitments are said (``好，我来负责，周五前发。``). In a long monologue
# ``我来…``/``我会…`` is mostly narration (``我来讲一下…``): in bench/minutes_long.py every one of the 16 annotated
# action items came from a turn of at most 74 characters and 50 of the 53 other matches from turns over 120.
SHORT_TURN = 80


def _strongest(found: list[tuple[int, dict[str, Any]]], cap: int) -> list[dict[str, Any]]:
    """The ``cap`` candidates of highest strength (ties: the earlier), back in meeting order. A positional cap let
    the early matches of a rambling stretch crowd out a real assignment at the end of a chapter."""
    ranked = sorted(range(len(found)), key=lambda i: (-found[i][0], i))[:cap]
    return [found[i][1] for i in sorted(ranked)]


def _unit(num: str) -> str:
    if DATE.fullmatch(num):
        return "date"
    if num.startswith("百分之") or num.endswith("%"):
        return "%"
    return re.sub(r"^[\d.零一二两三四五六七八九十百千\s]+", "", num)


def _new_numbers(sentence: str) -> list[str]:
    """Numbers a correction states, without those it takes back (``不是10月15日``)."""
    return [m.group(0) for m in NUMBER.finditer(sentence)
            if not re.search(r"(不是|而非|并非|不再是)\s*$", sentence[max(0, m.start() - 4):m.start()])]


def _clauses(text: str) -> list[str]:
    return [c for c in re.split(r"(?<=[，,；;。])", text) if c]


def corrected(text: str, lines: list[int], utts: list[Utterance], pos_of: dict[int, int],
              overlap: Any) -> tuple[str, list[int]]:
    """Later corrections win: a number in ``text`` that a later correction (``更正一下，团建省的应该是六万``) or an
    immediate refusal with a counter-number (``不行，最多45万``) restates is replaced — in the clause of ``text``
    about the same thing — and that line is cited too."""
    if not NUMBER.search(text) or not lines:
        return text, lines
    parts = _clauses(text)
    last = max(pos_of.get(i, -1) for i in lines)
    lines = list(lines)
    for j in range(last + 1, len(utts)):
        for s in sentences(utts[j].text):
            applied: set[str] = set()  # each number a correction states fixes one clause
            refusal = j - last <= 2 and bool(_REJECT.search(s))
            if not (_CORRECT.search(s) or refusal):
                continue
            olds = [m.group(0) for m in NUMBER.finditer("".join(parts))]
            if not any(o in s for o in olds) and overlap(NUMBER.sub("", "".join(parts)), s) < 0.3 and not refusal:
                continue
            for c in _clauses(s):
                for new in _new_numbers(c):
                    k = None if new in applied else _target_clause(parts, new, c, overlap)
                    if k is None:
                        continue
                    old = next(o for o in (m.group(0) for m in NUMBER.finditer(parts[k]))
                               if _unit(o) == _unit(new) and o != new)
                    parts[k] = parts[k].replace(old, new)
                    applied.add(new)
                    if utts[j].index not in lines:
                        lines.append(utts[j].index)
    return "".join(parts), lines


def _target_clause(parts: list[str], new: str, said: str, overlap: Any) -> int | None:
    """The clause of an item whose number ``new`` corrects: the only one with such a number, else the one whose
    words the correction's clause shares most."""
    cands = [k for k, p in enumerate(parts)
             if any(_unit(o) == _unit(new) and o != new for o in (m.group(0) for m in NUMBER.finditer(p)))]
    if len(cands) <= 1:
        return cands[0] if cands else None
    topic = NUMBER.sub("", said)
    best = max(cands, key=lambda k: overlap(topic, NUMBER.sub("", parts[k])))
    return best if overlap(topic, NUMBER.sub("", parts[best])) > 0 else None


def fallback_summary(utts: list[Utterance], max_chars: int) -> str:
    """The chapter's first sentences, when the model gave no summary."""
    out = ""
    for u in utts:
        for s in sentences(u.text):
            if len(s) < 6:
                continue
            if len(out) + len(s) > max_chars:
                return out or clause(s, max_chars)
            out += s
    return out or (clause(utts[0].text, max_chars) if utts else "")
