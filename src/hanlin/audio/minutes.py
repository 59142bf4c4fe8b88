"""Minutes straight from a recording: one durable ``minutes`` job that transcribes, checkpoints the transcript,
then runs the minutes pipeline on utterances that carry start times and speakers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hanlin.apps.minutes.transcript import Transcript, Utterance, format_time, transcript_from_utterances
from hanlin.audio.service import AudioService
from hanlin.errors import HanlinError
from hanlin.jobs import JobContext, JobRunner
from hanlin.principal import Principal

TRANSCRIPT_EVENT = "transcript done"
ASR_SHARE = 0.6  # share of the job's progress bar given to speech recognition
MAX_UTTERANCE_CHARS = 300


def to_transcript(result: dict[str, Any]) -> Transcript:
    """Consecutive segments of one speaker become one utterance (start of the first, end of the last)."""
    utts: list[Utterance] = []
    for seg in result["segments"]:
        last = utts[-1] if utts else None
        if last and last.speaker == seg["speaker"] and len(last.text) + len(seg["text"]) <= MAX_UTTERANCE_CHARS:
            last.text += seg["text"]
            last.end = seg["end"]
        else:
            utts.append(Utterance(len(utts), seg["speaker"], seg["text"], seg["start"], seg["end"]))
    return Transcript(utts, "audio")


def line_stamps(transcript: Transcript) -> dict[str, str]:
    """``{"12": "00:12:31 发言人2"}``: what a citation of line 12 shows in the rendered minutes."""
    return {str(u.index): f"{format_time(u.start)} {u.speaker}" for u in transcript.utterances if u.start is not None}


def _checkpoint(jobs: JobRunner, job_id: str) -> dict[str, Any] | None:
    for ev in jobs.events(job_id, 0, 10_000):
        if ev["message"] == TRANSCRIPT_EVENT and (ev.get("data") or {}).get("utterances"):
            return dict(ev["data"])
    return None


async def transcript_for_job(jobs: JobRunner, audio: AudioService, ctx: JobContext
                             ) -> tuple[Transcript, dict[str, Any]]:
    """The job's transcript: from its checkpoint when resumed, else by transcribing its recording now."""
    saved = _checkpoint(jobs, ctx.job_id)
    if saved is not None:
        ctx.event("resuming", {"transcript": "from checkpoint"})
        return transcript_from_utterances(saved["utterances"], "audio"), saved["transcription"]
    inp = ctx.input
    opts = audio.options(language=inp.get("language", "zh"), num_speakers=inp.get("speakers"),
                         hotwords=inp.get("hotwords"))
    path = Path(inp["audio_path"])
    try:
        result = await audio.transcribe(path, opts, lambda f, s: ctx.progress(f * ASR_SHARE, s))
    except HanlinError:  # unreadable or corrupt recording: the job fails with the reason and keeps nothing
        path.unlink(missing_ok=True)
        raise
    transcript = to_transcript(result)
    summary = {k: result[k] for k in ("duration_s", "language", "speakers", "stats", "corrections")}
    ctx.event(TRANSCRIPT_EVENT, {"utterances": [u.to_dict() for u in transcript.utterances],
                                 "transcription": summary})
    path.unlink(missing_ok=True)  # the transcript is checkpointed: the recording is no longer needed
    return transcript, summary


def submit(jobs: JobRunner, job_kind: str, principal: Principal, audio_path: Path, *, instruction: str | None = None,
           model: str | None = None, title: str | None = None, speakers: int | None = None,
           hotwords: list[str] | None = None, language: str | None = "zh", read_all: bool = False) -> dict[str, Any]:
    """Queue the minutes job (``job_kind``) of a stored recording for ``principal``."""
    from hanlin.apps.minutes.instruction import parse_instruction

    parse_instruction(instruction, [])  # a malformed instruction fails now, not after an hour of ASR
    payload = {"audio_path": str(audio_path), "instruction": instruction, "model": model, "title": title,
               "speakers": speakers, "hotwords": hotwords or [], "language": language, "source_format": "audio",
               "read_all": read_all}
    return dict(jobs.submit(job_kind, principal, payload))
