"""Transcripts in many export formats, normalized to numbered utterances (index, speaker, start, text).

Supported: plain text with speaker labels (``张伟：…``, ``[00:01:02] 张伟: …``, ``发言人1 00:01:02`` with the
text on the following lines), SRT, WebVTT (``<v Speaker>``), .docx exports and JSON utterance lists (VCSum's
``utterances``, QMSum's ``meeting_transcripts`` or a bare list). Anything else fails with a message naming the
line that could not be read.

Each utterance keeps where it came from in the user's file (``line``: 1-based line of its label; ``start``:
seconds), so citations can be shown in the user's own terms. A header block before the first utterance
(``会议：…`` ``时间：…`` ``参会：…``, as meeting tools export it) is read as metadata, never as speakers.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import asdict, dataclass, field
from typing import Any

from hanlin.errors import UnprocessableInput

UNKNOWN_SPEAKER = "发言人"
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_NAME = (r"(?:Speaker|speaker|SPEAKER|发言人|说话人)\s?\d{1,3}|[A-Z][\w.'-]*(?:\s[A-Z][\w.'-]*){1,2}|"
         r"[^\s:：\[\]【】()（）<>,，。.!！?？;；\"“”'‘’]{1,20}(?:[（(][^）)\s]{1,12}[）)])?")
# [00:01:02] 张伟: text   |  00:01:02 张伟：text
_TIME_NAME_TEXT = re.compile(rf"^\[?(?P<time>{_TIME})\]?\s+(?P<name>{_NAME})\s*[:：]\s*(?P<text>.*)$")
# 张伟 [00:01:02]: text  |  张伟(00:01:02)：text
_NAME_TIME_TEXT = re.compile(rf"^(?P<name>{_NAME})\s*[\[(（]\s*(?P<time>{_TIME})\s*[\])）]\s*[:：]?\s*(?P<text>.*)$")
# 发言人1 00:01:02   (text on the next lines, as Feishu/Tencent Meeting exports)
_NAME_TIME_HEADER = re.compile(rf"^(?P<name>{_NAME})\s+(?P<time>{_TIME})\s*$")
# 张伟：text
_NAME_TEXT = re.compile(rf"^(?P<name>{_NAME})\s*[:：]\s*(?P<text>.*)$")
_VOICE = re.compile(r"<v(?:\.[^\s>]+)?\s+([^>]+)>")
_TAG = re.compile(r"</?[^>]+>")
_MAX_PREAMBLE_LINES = 12
# header keys of a meeting-tool export / a typed transcript (meta key each maps to)
_HEADER_KEYS = {
    "会议": "title", "会议名称": "title", "会议主题": "title", "主题": "title", "议题": "title", "标题": "title",
    "时间": "time", "会议时间": "time", "日期": "time", "会议日期": "time",
    "地点": "place", "会议地点": "place",
    "参会": "attendees", "参会人": "attendees", "参会人员": "attendees", "与会": "attendees", "与会人员": "attendees",
    "出席": "attendees", "出席人员": "attendees", "参加人员": "attendees", "参与人": "attendees",
    "主持": "host", "主持人": "host", "记录": "recorder", "记录人": "recorder", "缺席": "absent", "列席": "observers",
    "关键词": "keywords", "文字记录": "", "智能纪要": "", "会议纪要": "",
    "meeting": "title", "title": "title", "subject": "title", "date": "time", "time": "time",
    "attendees": "attendees", "participants": "attendees", "location": "place",
}
_HEADER = re.compile(r"^(?P<key>[\u4e00-\u9fffA-Za-z]{1,6})\s*[:：]\s*(?P<value>.*)$")
_ROLE_SUFFIX = re.compile(r"^(?P<name>.+?)\s*[（(](?P<inner>[^（()）]{1,12})[）)]$")
_ROLES = {"主持人", "主持", "主席", "记录员", "记录人", "嘉宾", "领导", "发言人", "Host", "host", "Chair", "chair"}
_NUMBERED = re.compile(r"^(发言人|说话人)\s+(\d{1,3})$")


@dataclass
class Utterance:
    index: int
    speaker: str
    text: str
    start: float | None = None  # seconds from the start of the meeting
    end: float | None = None  # seconds; set by speech recognition and by subtitle files
    line: int | None = None  # 1-based line of the user's file where the utterance starts

    @property
    def stamp(self) -> str:
        """``00:12:31 发言人2`` when the start time is known, else the speaker: what a citation shows."""
        return f"{format_time(self.start)} {self.speaker}" if self.start is not None else self.speaker

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Transcript:
    utterances: list[Utterance]
    source_format: str = "text"
    skipped_lines: list[int] = field(default_factory=list)  # 1-based header lines ignored before the first speaker
    meta: dict[str, Any] = field(default_factory=dict)  # header block: title, time, place, attendees, host …

    @property
    def speakers(self) -> list[str]:
        seen: dict[str, None] = {}
        for u in self.utterances:
            seen.setdefault(u.speaker, None)
        return list(seen)

    @property
    def chars(self) -> int:
        return sum(len(u.text) for u in self.utterances)

    def to_dict(self) -> dict[str, Any]:
        return {"source_format": self.source_format, "utterances": [u.to_dict() for u in self.utterances],
                "meta": self.meta}


def parse_time(value: str) -> float:
    """``01:02:03``, ``02:03``, ``00:00:01,500`` → seconds."""
    value = value.replace(",", ".")
    parts = value.split(":")
    secs = 0.0
    for p in parts:
        secs = secs * 60 + float(p)
    return secs


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


Raw = tuple[str, str, float | None, int | None]  # speaker, text, start seconds, 1-based source line


def speaker_name(name: str) -> str:
    """``张伟（产品部）`` → ``张伟``; ``说话人 1`` → ``说话人1``: one name per person."""
    name = " ".join(name.split())
    m = _NUMBERED.match(name)
    if m:
        return m.group(1) + m.group(2)
    m2 = _ROLE_SUFFIX.match(name)
    if m2 and not re.fullmatch(r"[\d:.,]+", m2["inner"]):
        base, inner = m2["name"].strip(), m2["inner"].strip()
        return inner if base in _ROLES else base  # 主持人（张伟） → 张伟; 张伟（产品部） → 张伟
    return name


def _finish(raw: list[Raw], fmt: str, skipped: list[int] | None = None,
            meta: dict[str, Any] | None = None, ends: list[float | None] | None = None) -> Transcript:
    """Number the utterances that have text; ``ends`` (parallel to ``raw``) carries end times when known."""
    ends = ends or [None] * len(raw)
    kept = [(speaker_name(s.strip()) or UNKNOWN_SPEAKER, t.strip(), st, en, ln)
            for (s, t, st, ln), en in zip(raw, ends, strict=True) if t.strip()]
    utts = [Utterance(i, spk, text, start, end, line) for i, (spk, text, start, end, line) in enumerate(kept)]
    if not utts:
        raise UnprocessableInput(f"The {fmt} transcript has no utterances with text.", param="file")
    return Transcript(utts, fmt, skipped or [], meta or {})


def _header(line: str) -> tuple[str, str] | None:
    """(meta key, value) for a header line such as ``参会：张伟、李娜`` (``""`` key: a section marker)."""
    m = _HEADER.match(line)
    if not m:
        return None
    key = _HEADER_KEYS.get(m["key"].strip().lower())
    value = m["value"].strip()
    if key is None or len(value) > 120 or re.search(r"[。！？!?]", value):
        return None  # ``主持人：大家好，我们开始。`` is an utterance, not a header
    return key, value


def _add_meta(meta: dict[str, Any], key: str, value: str) -> None:
    if not key or not value:
        return
    if key == "attendees":
        names = [n.strip() for n in re.split(r"[、，,；;/\s]+", value) if n.strip()]
        meta.setdefault("attendees", [])
        meta["attendees"] += [speaker_name(n) for n in names if n not in meta["attendees"]]
    else:
        meta.setdefault(key, value)


# --- plain text --------------------------------------------------------------------------------------------
def _match_label(line: str) -> tuple[str, float | None, str | None] | None:
    """(speaker, start, text or None when the text follows on the next lines) for a labelled line."""
    for pat in (_TIME_NAME_TEXT, _NAME_TIME_TEXT):
        m = pat.match(line)
        if m:
            return m["name"], parse_time(m["time"]), m["text"]
    m = _NAME_TIME_HEADER.match(line)
    if m:
        return m["name"], parse_time(m["time"]), None
    m = _NAME_TEXT.match(line)
    if m and not re.fullmatch(r"\d+", m["name"]) and not m["name"].startswith(("http", "www")):
        return m["name"], None, m["text"]
    return None


def parse_text(text: str) -> Transcript:
    raw: list[Raw] = []
    preamble: list[int] = []
    meta: dict[str, Any] = {}
    other = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        header = None if raw else _header(line)
        if header is not None:  # the header block before the first utterance is metadata, not speakers
            _add_meta(meta, *header)
            preamble.append(lineno)
            continue
        label = _match_label(line)
        if label:
            name, start, body = label
            raw.append((name, body or "", start, lineno))
        elif raw:
            spk, body, start, first = raw[-1]
            raw[-1] = (spk, (body + ("" if _is_cjk_end(body) else " ") + line).strip(), start, first)
        else:
            preamble.append(lineno)
            other += 1
            if other > _MAX_PREAMBLE_LINES:
                break
            if "title" not in meta and len(preamble) == 1 and len(line) <= 40:
                meta["title_line"] = line
    if not raw:
        first = preamble[0] if preamble else 1
        shown = text.splitlines()[first - 1][:60] if text.splitlines() else ""
        raise UnprocessableInput(
            f"Could not find a speaker label at line {first} ({shown!r}). Expected lines like '张伟：…', "
            "'[00:01:02] 张伟: …' or '发言人1 00:01:02' followed by the text; or upload SRT, WebVTT, .docx or "
            "JSON utterances.", param="file")
    title_line = meta.pop("title_line", None)
    if title_line and "title" not in meta:
        meta["title"] = title_line
    return _finish(raw, "text", preamble, meta)


def _is_cjk_end(s: str) -> bool:
    return bool(s) and ("\u4e00" <= s[-1] <= "\u9fff" or s[-1] in "，。！？；：、")


# --- subtitles ---------------------------------------------------------------------------------------------
def _speaker_from_caption(text: str) -> tuple[str, str]:
    m = _VOICE.search(text)
    if m:
        return m.group(1).strip(), _TAG.sub("", text).strip()
    clean = _TAG.sub("", text).strip()
    m2 = re.match(r"^[\[【](?P<name>[^\]】]{1,20})[\]】]\s*(?P<text>.+)$", clean, re.S) or _NAME_TEXT.match(clean)
    if m2:
        return m2["name"], m2["text"]
    return UNKNOWN_SPEAKER, clean


def _merge_captions(caps: list[tuple[str, str, float]]) -> list[Raw]:
    """Consecutive captions of one speaker form one utterance (subtitles cut sentences every few seconds)."""
    out: list[Raw] = []
    for spk, text, start in caps:
        text = " ".join(text.split())
        spk = speaker_name(spk)
        if out and out[-1][0] == spk and len(out[-1][1]) < 400:
            prev = out[-1]
            out[-1] = (spk, prev[1] + ("" if _is_cjk_end(prev[1]) else " ") + text, prev[2], None)
        else:
            out.append((spk, text, start, None))
    return out


def parse_srt(text: str) -> Transcript:
    import pysrt

    try:
        subs = pysrt.from_string(text, error_handling=pysrt.ERROR_RAISE)
    except Exception as e:  # pysrt raises its own InvalidItem with the offending line
        raise UnprocessableInput(f"This SRT file is broken: {e}", param="file") from None
    caps = [(*_speaker_from_caption(s.text), s.start.ordinal / 1000.0) for s in subs]
    return _finish(_merge_captions(caps), "srt")


def parse_vtt(text: str) -> Transcript:
    import webvtt

    try:
        vtt = webvtt.from_buffer(io.StringIO(text))
    except Exception as e:
        raise UnprocessableInput(f"This WebVTT file is broken: {e}", param="file") from None
    caps = []
    for c in vtt.captions:
        raw_text = getattr(c, "raw_text", None) or c.text
        caps.append((*_speaker_from_caption(raw_text), parse_time(c.start)))
    return _finish(_merge_captions(caps), "vtt")


# --- docx and JSON -----------------------------------------------------------------------------------------
def parse_docx(data: bytes) -> Transcript:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as e:
        raise UnprocessableInput(f"This .docx file cannot be opened: {e}", param="file") from None
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:  # some tools export one row per utterance: speaker | time | text
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if len(cells) >= 2:
                lines.append(f"{cells[0]}：{cells[-1]}")
    t = parse_text("\n".join(lines))
    t.source_format = "docx"
    return t


def _speaker_name(value: Any) -> str:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return f"{UNKNOWN_SPEAKER}{value}"
    return str(value or UNKNOWN_SPEAKER)


def parse_json_utterances(obj: Any) -> Transcript:
    items = obj
    if isinstance(obj, dict):
        items = obj.get("utterances") or obj.get("meeting_transcripts") or obj.get("transcript")
    if not isinstance(items, list) or not items:
        raise UnprocessableInput("JSON transcripts need a list of utterances: [{\"speaker\": \"张伟\", \"text\": \"…\"}] "
                                 "or {\"utterances\": [...]}.", param="file")
    raw: list[Raw] = []
    ends: list[float | None] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise UnprocessableInput(f"Utterance {i} is not an object with speaker and text.", param="file")
        text = item.get("text", item.get("content"))
        if not isinstance(text, str):
            raise UnprocessableInput(f"Utterance {i} has no 'text' (or 'content') string.", param="file")
        start = item.get("start", item.get("time", item.get("begin")))
        spk = item.get("speaker", item.get("name", item.get("role")))
        raw.append((_speaker_name(spk), text, _seconds(start), None))
        ends.append(_seconds(item.get("end")))
    return _finish(raw, "json", ends=ends)


def _seconds(value: Any) -> float | None:
    if isinstance(value, str):
        return parse_time(value) if re.fullmatch(_TIME, value.strip()) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_transcript(data: bytes | str, filename: str | None = None) -> Transcript:
    """Detect the format from the name and content; raise UnprocessableInput with what to fix."""
    name = (filename or "").lower()
    if isinstance(data, bytes):
        if data[:2] == b"PK" or name.endswith(".docx"):
            if not zipfile.is_zipfile(io.BytesIO(data)):
                raise UnprocessableInput("This .docx file is not a valid Word document.", param="file")
            return parse_docx(data)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError:
                raise UnprocessableInput("The transcript is not UTF-8 or GB18030 text.", param="file") from None
    else:
        text = data
    stripped = text.lstrip("\ufeff \r\n\t")
    if not stripped:
        raise UnprocessableInput("The transcript is empty.", param="file")
    if name.endswith(".json") or stripped[0] == "{" or re.match(r"\[\s*[{\]]", stripped):
        try:
            return parse_json_utterances(json.loads(stripped))
        except json.JSONDecodeError as e:
            raise UnprocessableInput(f"Invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}.",
                                     param="file") from None
    if name.endswith(".vtt") or stripped.startswith("WEBVTT"):
        return parse_vtt(stripped)
    if name.endswith(".srt") or re.match(r"^\d+\s*\n\s*\d{2}:\d{2}:\d{2}[,.]\d{3}\s*-->", stripped):
        return parse_srt(stripped)
    return parse_text(stripped)


def transcript_from_utterances(items: list[dict[str, Any]], source_format: str = "json",
                               meta: dict[str, Any] | None = None) -> Transcript:
    """Rebuild a Transcript stored in a job payload (already normalized)."""
    return Transcript([Utterance(int(u["index"]), str(u["speaker"]), str(u["text"]), u.get("start"), u.get("end"),
                                 u.get("line")) for u in items], source_format, meta=dict(meta or {}))
