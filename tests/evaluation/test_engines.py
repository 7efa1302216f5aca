"""The engines evaluation: its measures on known signals, and both engines end to end on tiny runs."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from soundtrack.evaluation import engines
from soundtrack.evaluation.engines import evaluate_engines, markdown, music_measures


def test_gating_and_width_are_measured_on_the_delivered_stem():
    t = np.arange(48_000 * 4) / 48_000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    gated = np.where((t % 1.0) < 0.5, tone, 0.0)  # silent half of every second
    mono = np.stack([gated, gated])
    m = music_measures(mono, gated[::3].astype(np.float32), tempo_bpm=120.0)
    assert m["silent_share"] == pytest.approx(0.5, abs=0.05) and m["width"] == 0.0
    wide = np.stack([tone, 0.5 * tone + 0.3 * np.sin(2 * np.pi * 331 * t)])
    m = music_measures(wide, tone[::3].astype(np.float32), tempo_bpm=120.0)
    assert m["silent_share"] == 0.0 and m["width"] > 0.2 and m["harmonic_share"] > 0.9


def test_both_engines_on_tiny_runs(tmp_path, monkeypatch):
    from soundtrack.evaluation.bench import procedural_video
    from tests.test_pipeline import export_tiny_checkpoints

    monkeypatch.setattr(engines, "REQUESTS", (engines.REQUESTS[3],))  # piano, bass, drums at 104 BPM
    ckpt = export_tiny_checkpoints(tmp_path)
    shutil.copytree(ckpt / "instruments-judge", ckpt / "instruments-indep")  # a stand-in for the third judge
    video = procedural_video(tmp_path / "clip.mp4", 2.5)
    result = evaluate_engines(videos=[video], checkpoints=ckpt, snio_iters=0, progress=False)
    score, neural = result["rows"]["score"][0], result["rows"]["neural"][0]
    assert score["in_key"] == 1.0 and score["pc_entropy_bits"] <= np.log2(7) + 1e-9
    assert "in_key" not in neural and score["muse"]["req"] == 3 and score["judge"]["unreq"] == 7
    assert score["indep"] == score["judge"] and "indep_requested" in result["summary"]["score"]
    assert score["width"] > 0.0 == neural["width"]  # the render is stereo; the neural music is centred
    table = markdown(result)
    assert "score engine" in table and "neural engine" in table
