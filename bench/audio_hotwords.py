"""Hotwords measured: how many glossary terms come out right with no help, with the initial prompt only, and with
the prompt plus the pinyin post-correction pass, on the MIT clips in shared/eval/audio_zh.

    python bench/audio_hotwords.py

Each clip contains one proper name that Whisper base mishears (达摩院, 富士康, 滨海新区); the glossary holds all
three, as a user's glossary would hold names that do not occur in every recording.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.audio_mix import AUDIO_DIR, CLIPS  # noqa: E402

TERMS = {"asr_example.wav": "达摩院", "long.wav": "富士康", "sample.wav": "滨海新区"}


def main() -> None:
    import numpy as np

    from hanlin.audio.asr import SpeechRecognizer, initial_prompt
    from hanlin.audio.decode import stream_blocks
    from hanlin.audio.models import WHISPER_BASE, ensure
    from hanlin.audio.text import clean, correct
    from hanlin.config import Settings

    settings = Settings()
    asr = SpeechRecognizer(ensure(settings.models_dir, WHISPER_BASE), settings.n_threads)
    glossary = list(TERMS.values())
    rows = []
    for clip in CLIPS:
        samples = np.concatenate(list(stream_blocks(AUDIO_DIR / clip)))
        texts = {}
        for mode, prompt in (("none", initial_prompt([])), ("prompt", initial_prompt(glossary))):
            segs, _ = asr.transcribe(samples, 0.0, language="zh", prompt=prompt)
            texts[mode] = clean("".join(s.text for s in segs))
        texts["prompt+glossary"] = correct(texts["prompt"], glossary)[0]
        rows.append({"clip": clip, "term": TERMS[clip], **{k: (TERMS[clip] in v, v) for k, v in texts.items()}})
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))
    for mode in ("none", "prompt", "prompt+glossary"):
        print(f"{mode}: {sum(r[mode][0] for r in rows)}/{len(rows)} terms right")


if __name__ == "__main__":
    main()
