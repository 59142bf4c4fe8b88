"""The minutes service and its durable job kind ``minutes`` (resumable: finished chapters are checkpointed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hanlin.apps.minutes.instruction import apply_plan, parse_instruction
from hanlin.apps.minutes.pipeline import Options, make_minutes
from hanlin.apps.minutes.transcript import Transcript, parse_transcript, transcript_from_utterances
from hanlin.audio.service import AudioService
from hanlin.engine.manager import EngineManager
from hanlin.errors import BadRequest, Unavailable
from hanlin.jobs import JobContext, JobRunner
from hanlin.limits import check_size, mb_bytes
from hanlin.principal import Principal

JOB_KIND = "minutes"
APP_SCOPE = "app:minutes"  # a key with this scope may run minutes on the default model
CHAPTER_EVENT = "chapter done"


@dataclass
class MinutesService:
    engines: EngineManager
    jobs: JobRunner
    max_upload_mb: int
    audio: AudioService | None = None  # minutes from a recording transcribe it first
    read_chars: int = 0  # Settings.minutes_read_chars: past it the model reads a condensed meeting

    def parse_upload(self, data: bytes | str, filename: str | None) -> Transcript:
        size = len(data.encode("utf-8") if isinstance(data, str) else data)
        check_size(size, mb_bytes(self.max_upload_mb), "The transcript", "HANLIN_MAX_UPLOAD_MB")
        return parse_transcript(data, filename)

    def parse_json_body(self, body: dict[str, Any]) -> Transcript:
        """JSON requests: ``transcript`` as text or as utterances, or ``utterances`` directly."""
        if "utterances" in body:
            return parse_transcript(json.dumps({"utterances": body["utterances"]}, ensure_ascii=False), "x.json")
        t = body.get("transcript")
        if isinstance(t, str):
            return self.parse_upload(t, body.get("filename"))
        if isinstance(t, list | dict):
            return parse_transcript(json.dumps(t, ensure_ascii=False), "x.json")
        raise BadRequest("Send a transcript: multipart 'file', or JSON with 'transcript' (text) or 'utterances' "
                         "([{\"speaker\": \"张伟\", \"text\": \"…\"}]).", param="transcript")

    def submit(self, principal: Principal, transcript: Transcript, *, instruction: str | None = None,
               model: str | None = None, title: str | None = None, read_all: bool = False) -> dict[str, Any]:
        self.engines.check(principal, model, APP_SCOPE)  # 403 now rather than a failed job later
        apply_plan(parse_instruction(instruction, transcript.speakers), transcript.utterances)  # 422 now, not later
        payload = {"utterances": [u.to_dict() for u in transcript.utterances], "source_format": transcript.source_format,
                   "meta": transcript.meta, "instruction": instruction, "model": model, "title": title,
                   "read_all": read_all}
        return dict(self.jobs.submit(JOB_KIND, principal, payload))

    def _checkpoints(self, job_id: str) -> dict[int, dict[str, Any]]:
        done: dict[int, dict[str, Any]] = {}
        for ev in self.jobs.events(job_id, 0, 10_000):
            data = ev.get("data") or {}
            if ev["message"] == CHAPTER_EVENT and "chapter" in data:
                done[int(data["chapter"])] = data["result"]
        return done

    async def run_job(self, ctx: JobContext) -> dict[str, Any]:
        inp = ctx.input
        progress: Callable[[float, str], None] = ctx.progress
        transcription = None
        if "audio_path" in inp:  # a recording: transcribe first (checkpointed), then the same pipeline
            from hanlin.audio.minutes import ASR_SHARE, transcript_for_job

            if self.audio is None:
                raise Unavailable("Speech recognition is not enabled on this server.")
            transcript, transcription = await transcript_for_job(self.jobs, self.audio, ctx)

            def progress(f: float, stage: str = "") -> None:  # the minutes share of the bar
                ctx.progress(ASR_SHARE + (1 - ASR_SHARE) * f, stage)
        else:
            transcript = transcript_from_utterances(inp["utterances"], meta=inp.get("meta"))
        engine = await self.engines.get(inp.get("model"), principal=ctx.principal, app=APP_SCOPE)
        done = self._checkpoints(ctx.job_id)
        if done:
            ctx.event("resuming", {"chapters_done": sorted(done)})
        opts = Options(instruction=inp.get("instruction"), title=inp.get("title"),
                       read_chars=0 if inp.get("read_all") else self.read_chars)
        result = await make_minutes(engine, transcript, opts, progress=progress, done=done,
                                    on_chapter=lambda i, r: ctx.event(CHAPTER_EVENT, {"chapter": i, "result": r}))
        if transcription is not None:
            from hanlin.audio.minutes import line_stamps

            result["transcription"] = transcription
            result["line_stamps"] = line_stamps(transcript)
        return result

