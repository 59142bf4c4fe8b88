"""公文 register: the per-type wording rules a GB/T layout check cannot see, enforced by code after drafting.

A small model writes a 请示 that opens "尊敬的某某市财政局领导：" and closes "谢谢您的支持和帮助。", a 报告 that asks
for approval, a 通知 whose title runs to three lines and whose body repeats itself, whole paragraphs set as 黑体
headings. :func:`repair` fixes the draft (each change listed); :func:`register_checks` tests the same rules on the
text read back from the saved file and reports them in ``checks``.

Rules (《党政机关公文处理工作条例》 and common 公文 practice):
- every type: no salutation ("尊敬的…：", "您好"), no thanks ("谢谢", "感谢您", "此致敬礼"), no repeated sentence,
  a heading is a short phrase (≤ ``HEADING_MAX`` characters, at most one sentence), the title ≤ 2 lines;
- 请示: one matter (one request, the title names one matter), closes with exactly "妥否，请批示。";
- 报告: no request for approval (请批示 / 请审批 / 请批准 …), closes "特此报告。";
- 函: closes "特此函告。" or "请予函复。";
- 通知: title "关于…的通知", a 主送机关 line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hanlin.apps.documents.schema import REQUEST_ENDINGS, OfficialDocument, Paragraph
from hanlin.apps.documents.writer import split_heading
from hanlin.text import display_width

TITLE_LINE_CHARS = 20  # 2号 (22 pt) characters on a 156 mm line
TITLE_MAX_CHARS = 2 * TITLE_LINE_CHARS
HEADING_MAX = 30
REQUEST_CLOSE = "妥否，请批示。"
REPORT_CLOSE = "特此报告。"
LETTER_CLOSES = ("特此函告。", "请予函复。", "特此函复。")
NOTICE_DEFAULT_TO = "各有关单位"

_SALUTATION = re.compile(r"^(?:尊敬的[^：:，,。]{0,30}[：:，,]|[^。：:]{0,20}(?:领导|同志们?)[：:，,]?\s*您好[！!，,。]?|您好[！!，,。]?)")
_THANKS = re.compile(r"谢谢|您好|感谢您|感谢贵|衷心感谢|非常感谢|此致|敬礼|顺祝|祝好|致以.{0,6}敬意")
_REQUEST = re.compile("|".join(REQUEST_ENDINGS) + r"|妥否|当否|是否同意|请予审批|恳请.{0,10}(?:批准|同意|支持)|特此请示")
_SENTENCE = re.compile(r"[^。！？!?；;]+[。！？!?；;]?")
_MULTI_MATTER = re.compile(r"(?:等|及其他|和其他|以及其他)(?:若干)?(?:事项|问题)|(?:两|三|几|多)(?:个|项)(?:事项|问题)")


@dataclass
class Repairs:
    changes: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        if what not in self.changes:
            self.changes.append(what)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _key(sentence: str) -> str:
    return re.sub(r"[\s，。！？!?；;、：:“”\"']", "", sentence)


def title_width(title: str) -> float:
    """Title length in 2号 characters: a half-width letter or digit counts ½."""
    return display_width(title, wide="“”‘’")


def shorten_title(title: str, doc_type: str) -> str:
    """A title over two lines: drop parentheses and filler words, then cut the matter at a word boundary."""
    if title_width(title) <= TITLE_MAX_CHARS:
        return title
    suffix = "的" + doc_type if title.endswith("的" + doc_type) else doc_type
    matter = title.removeprefix("关于").removesuffix(suffix)
    matter = re.sub(r"[（(][^）)]*[）)]", "", matter)
    for filler in ("进一步", "切实", "认真", "全面", "扎实", "有关", "相关", "工作的", "积极"):
        if title_width(f"关于{matter}{suffix}") <= TITLE_MAX_CHARS:
            break
        matter = matter.replace(filler, "")
    budget = TITLE_MAX_CHARS - title_width("关于" + suffix)
    while title_width(matter) > budget:
        cut = max(matter.rfind(c, 0, len(matter) - 1) for c in "，、和及与的")
        matter = matter[:cut] if cut >= 4 else matter[:-1]
    return f"关于{matter.rstrip('，、和及与的')}{suffix}"


def _clean_sentences(paragraphs: list[Paragraph], doc_type: str, rep: Repairs) -> list[Paragraph]:
    """Drop salutations, thanks, repeated sentences (anywhere in the body), and requests where they do not belong."""
    seen: set[str] = set()
    out: list[Paragraph] = []
    for p in paragraphs:
        text = p.text
        while _SALUTATION.match(text):
            text = _SALUTATION.sub("", text, count=1).strip()
            rep.add("removed a salutation (公文 do not open with 尊敬的…)")
        kept: list[str] = []
        for s in sentences(text):
            k = _key(s)
            if _THANKS.search(s):
                rep.add("removed thanks/courtesy sentences (not 公文 register)")
                continue
            if doc_type in ("请示", "报告") and _REQUEST.search(s):
                rep.add("moved the request to the closing sentence" if doc_type == "请示"
                        else "removed a request for approval (a 报告 must not carry one)")
                continue
            if doc_type == "函" and s in LETTER_CLOSES:
                continue  # the closing is placed once, at the end
            if k and k in seen:
                rep.add("removed repeated sentences")
                continue
            seen.add(k)
            kept.append(s)
        if kept:
            out.append(Paragraph("".join(kept), p.level))
    return out


def _real_headings(paragraphs: list[Paragraph], rep: Repairs) -> list[Paragraph]:
    """A heading is a short phrase. A heading run in with its text ("加强领导。各单位要……") is fine (the writer sets
    only the heading in 黑体/楷体); a "heading" whose first sentence is a whole paragraph becomes body text."""
    out: list[Paragraph] = []
    for p in paragraphs:
        if p.level and len(split_heading(p.text)[0]) > HEADING_MAX:
            out.append(Paragraph(p.text, 0))
            rep.add("long paragraphs set as headings became body text")
        else:
            out.append(p)
    return out


def _close_with(paragraphs: list[Paragraph], closing: str) -> list[Paragraph]:
    if paragraphs and paragraphs[-1].text.endswith(closing):
        return paragraphs
    return [*paragraphs, Paragraph(closing)]


def letter_closing(brief: str) -> str:
    """函: ask for a reply when the letter asks or proposes something, otherwise inform."""
    asks = re.search(r"商洽|询问|征求|请|商请|函询|协助|支持|提供|是否|能否", brief)
    return "请予函复。" if asks else "特此函告。"


def repair(doc: OfficialDocument, brief: str = "") -> list[str]:
    """Apply the register rules of ``doc.doc_type`` to ``doc`` in place; returns what was changed."""
    rep = Repairs()
    t = doc.doc_type
    # a 请示's own closing in the standard words ("以上请示妥否，请批示。") is kept as the closing
    own_close = [s for p in doc.paragraphs for s in sentences(p.text) if s.endswith(REQUEST_CLOSE) and len(s) <= 20]
    paras = _real_headings(_clean_sentences(doc.paragraphs, t, rep), rep)
    if t == "请示":
        paras = [*paras, Paragraph(own_close[-1] if own_close else REQUEST_CLOSE)]
    elif t == "报告":
        paras = _close_with(paras, REPORT_CLOSE)
    elif t == "函":
        if not (paras and paras[-1].text.endswith(LETTER_CLOSES)):
            paras = _close_with(paras, letter_closing(brief))
            rep.add("added the 函 closing")
    elif t == "通知":
        if not doc.to:
            doc.to = [NOTICE_DEFAULT_TO]
            rep.add(f"added the 主送机关 line ({NOTICE_DEFAULT_TO})")
        if not doc.title.startswith("关于"):
            doc.title = "关于" + doc.title
            rep.add("the title reads 关于…的通知")
    short = shorten_title(doc.title, t)
    if short != doc.title:
        doc.title = short
        rep.add("shortened the title to two lines")
    doc.paragraphs = paras or doc.paragraphs
    return rep.changes


def register_checks(doc_type: str, title: str, recipients: str | None,
                    body: list[tuple[str, bool]]) -> dict[str, tuple[bool, str]]:
    """The register rules on a saved document: ``body`` is (paragraph text, is a heading) in order. Returns
    check name → (passed, why it failed)."""
    texts = [t for t, _ in body]
    all_sentences = [s for t in texts for s in sentences(t)]
    keys = [_key(s) for s in all_sentences if _key(s)]
    last = texts[-1].strip() if texts else ""
    out: dict[str, tuple[bool, str]] = {
        "no_salutation": (not any(_SALUTATION.match(t) for t in texts), "a salutation (尊敬的…：) opens a paragraph"),
        "no_thanks": (not any(_THANKS.search(s) for s in all_sentences), "thanks/courtesy phrases in the body"),
        "no_repeats": (len(keys) == len(set(keys)), "a sentence is repeated"),
        "real_headings": (all(len(t) <= HEADING_MAX + 5 for t, head in body if head),  # + the 一、/（一） number
                          "a whole paragraph is set as a heading"),
        "title_two_lines": (title_width(title) <= TITLE_MAX_CHARS, f"the title is over two lines: {title!r}"),
    }
    if doc_type == "请示":
        requests = [s for s in all_sentences if _REQUEST.search(s)]
        out["request_close"] = (last.endswith(REQUEST_CLOSE), f"a 请示 closes with {REQUEST_CLOSE}: ends {last[-12:]!r}")
        out["one_matter"] = (len(requests) == 1 and not _MULTI_MATTER.search(title),
                             f"a 请示 asks one thing: {len(requests)} request sentences, title {title!r}")
    elif doc_type == "报告":
        out["no_request"] = (not any(_REQUEST.search(s) for s in all_sentences),
                             "a 报告 must not ask for approval (请批示/请审批…)")
    elif doc_type == "函":
        out["letter_close"] = (last.endswith(LETTER_CLOSES), f"a 函 closes with 特此函告。or 请予函复。: ends {last[-12:]!r}")
    elif doc_type == "通知":
        out["notice_title"] = (title.startswith("关于") and title.endswith("的通知"),
                               f"a 通知 title reads 关于…的通知: {title!r}")
    return out
