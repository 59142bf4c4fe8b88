"""Speech pieces that need no model: decoding errors, chunking, features, clustering, text, glossary, exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hanlin.audio import formats
from hanlin.audio.cluster import cluster
from hanlin.audio.decode import SAMPLE_RATE, probe, stream_blocks
from hanlin.audio.fbank import fbank
from hanlin.audio.pipeline import chunks
from hanlin.audio.text import clean, correct
from hanlin.errors import UnprocessableInput
from tests.support.audio_mix import AUDIO_DIR, build_mix


def test_decode_streams_blocks_and_refuses_bad_files(tmp_path: Path) -> None:
    clip = AUDIO_DIR / "long.wav"
    blocks = list(stream_blocks(clip, block_s=3))
    assert len(blocks) >= 2 and sum(b.size for b in blocks) == 8 * SAMPLE_RATE
    assert all(b.dtype == np.float32 for b in blocks)
    data = clip.read_bytes()
    cases = {"empty.wav": (b"", "0 bytes"), "notes.mp3": ("这不是音频。".encode() * 100, "not a readable audio"),
             "cut.wav": (data[: len(data) // 2], "truncated")}
    for name, (content, needle) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(UnprocessableInput, match=needle):
            list(stream_blocks(tmp_path / name))
    assert probe(clip).duration_s == pytest.approx(8.0)


def test_chunks_cut_in_silence_and_cover_everything(tmp_path: Path) -> None:
    path, truth = build_mix(tmp_path / "mix.wav", [0, 1, 2], gap_s=2.0)
    got = list(chunks(stream_blocks(path, block_s=2), chunk_s=8))  # each boundary ±2 s reaches a gap
    assert len(got) >= 3
    total = sum(c.size for _, c in got)
    assert got[-1][0] * SAMPLE_RATE + got[-1][1].size == total
    for offset, _ in got[1:]:  # every cut lies in a gap between clips, never inside speech
        assert not any(t0 + 0.05 < offset < t1 - 0.05 for t0, t1, _ in truth), (offset, truth)


def test_fbank_shape_and_finite() -> None:
    x = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    f = fbank(x)
    assert f.shape == (98, 80) and np.isfinite(f).all()
    assert fbank(np.zeros(100, dtype=np.float32)).shape == (0, 80)


def _voices(counts: list[int], dim: int = 192, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((len(counts), dim))
    xs, ys = [], []
    for k, n in enumerate(counts):
        xs.append(centers[k] + 0.35 * rng.standard_normal((n, dim)))
        ys += [k] * n
    return np.vstack(xs), np.array(ys)


@pytest.mark.parametrize("counts", [[40, 25, 12], [30, 20], [60], [6, 5], [9]])
def test_cluster_finds_the_voices(counts: list[int]) -> None:
    x, truth = _voices(counts)
    labels = cluster(x)
    assert len(set(labels)) == len(counts)
    agree = sum(np.bincount(truth[labels == k]).max() for k in set(labels))
    assert agree == len(truth)
    assert labels[0] == 0  # the speaker with most windows is label 0
    assert len(set(cluster(x, num_speakers=len(counts)))) == len(counts)


def test_cluster_long_recording_uses_a_bounded_subsample() -> None:
    x, truth = _voices([3000, 2000])
    labels = cluster(x)
    assert len(set(labels)) == 2 and (labels == truth).mean() > 0.99


def test_text_is_simplified_and_punctuated() -> None:
    assert clean("大家好 今天我們開會, 討論預算") == "大家好，今天我们开会，讨论预算。"
    assert clean("我想问:我在那里有房:") == "我想问，我在那里有房。"
    assert clean("OK.") == "OK."


def test_glossary_fixes_same_sound_words_only() -> None:
    glossary = ["达摩院", "富士康", "滨海新区"]
    assert correct("欢迎体验大魔院推出的模型。", glossary)[0] == "欢迎体验达摩院推出的模型。"
    assert correct("故事康在印度的工厂。", glossary) == ("富士康在印度的工厂。", [("故事康", "富士康")])
    assert correct("我在冰台新区有房。", glossary)[0] == "我在滨海新区有房。"
    unrelated = "今天的会议讨论预算和人员安排。"
    assert correct(unrelated, glossary) == (unrelated, [])
    assert correct("达摩院很好。", glossary) == ("达摩院很好。", [])


def test_exports() -> None:
    result = {"segments": [{"start": 0.5, "end": 2.25, "speaker": "发言人1", "text": "你好。"},
                           {"start": 3661.0, "end": 3662.5, "speaker": "发言人2", "text": "好的。"}]}
    assert formats.to_txt(result) == "[00:00:00] 发言人1：你好。\n[01:01:01] 发言人2：好的。\n"
    assert "00:00:00,500 --> 00:00:02,250\n[发言人1] 你好。" in formats.to_srt(result)
    vtt = formats.to_vtt(result)
    assert vtt.startswith("WEBVTT") and "01:01:01.000 --> 01:01:02.500\n<v 发言人2>好的。" in vtt
    from hanlin.apps.minutes.transcript import parse_transcript

    back = parse_transcript(formats.to_txt(result))  # a txt export feeds `hanlin minutes` as it is
    assert [(u.speaker, u.start) for u in back.utterances] == [("发言人1", 0.0), ("发言人2", 3661.0)]
    back = parse_transcript(vtt, "x.vtt")
    assert [u.speaker for u in back.utterances] == ["发言人1", "发言人2"]


def test_speech_the_recogniser_skipped_is_found() -> None:
    from hanlin.audio.asr import missed_speech

    r = 16000
    speech = [(0, 5 * r), (6 * r, 11 * r), (12 * r, 12 * r + r // 2), (13 * r, 18 * r)]
    found = [(0.1, 4.9), (13.5, 14.0)]  # the 2nd turn skipped, the 4th only 10% covered, the 3rd too short
    assert missed_speech(speech, found, r) == [(6 * r, 11 * r), (13 * r, 18 * r)]
    assert missed_speech(speech, [(0.0, 18.0)], r) == []
