"""Continuity across windows: the measures catch a broken beat, and the ablation changes only the seams."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from soundtrack.config import AUDIO
from soundtrack.evaluation.windows import main, measure, on_grid, seam_change

SR = AUDIO.sample_rate


def clicks(bpm: float, seconds: float, *, shift_after: float | None = None,
           shift_s: float = 0.0) -> np.ndarray:
    """A click on every beat; from `shift_after` on the beats move by shift_s (a broken seam)."""
    y = np.zeros(int(seconds * SR), np.float32)
    burst = np.sin(2 * np.pi * 1000 * np.arange(400) / SR) * np.hanning(400)
    for t in np.arange(0.1, seconds - 0.1, 60.0 / bpm):
        if shift_after is not None and t >= shift_after:
            t += shift_s
        i = int(t * SR)
        y[i:i + 400] += burst[:len(y) - i]
    return y + 0.01 * np.random.default_rng(0).standard_normal(len(y)).astype(np.float32)  # librosa's
    # beat tracker finds nothing in clicks on digital silence


def test_on_grid_and_seam_change():
    assert on_grid(np.array([1.0, 1.5, 2.2]), np.array([1.02, 1.5, 2.0])).tolist() == [True, True, False]
    assert not on_grid(np.array([1.0]), np.array([])).any()
    change, flips = seam_change(np.array([0.9, 0.1, 0.6]), np.array([0.8, 0.7, 0.4]))
    assert change == pytest.approx(0.3) and flips == 2


def test_a_beat_that_jumps_at_a_seam_leaves_the_grid():
    grid = np.arange(0.1, 30.0, 0.5)  # 120 BPM
    windows = [(0.0, 10.24), (7.68, 17.92), (15.36, 25.6), (23.04, 30.0)]
    overlaps = [(7.68, 10.24), (15.36, 17.92), (23.04, 25.6)]
    steady = measure(clicks(120, 30.0), tempo_bpm=120, grid_beats=grid, windows=windows, overlaps=overlaps,
                     judge=None)
    assert steady["tempo_whole"] == steady["tempo_windows"] == 1.0
    assert steady["beats_on_grid"] > 0.9 and steady["beats_on_grid_overlaps"] > 0.9
    broken = measure(clicks(120, 30.0, shift_after=8.0, shift_s=0.25), tempo_bpm=120, grid_beats=grid,
                     windows=windows, overlaps=overlaps, judge=None)
    assert broken["beats_on_grid"] < 0.5  # off the grid from the first seam on
    slow = measure(clicks(100, 30.0), tempo_bpm=120, grid_beats=grid, windows=windows, overlaps=overlaps,
                   judge=None)
    assert slow["tempo_whole"] == slow["tempo_windows"] == 0.0


def test_windows_run_end_to_end_and_the_ablation_changes_only_later_windows(tiny_corpus, tmp_path):
    from soundtrack.evaluation.windows import evaluate_windows, markdown
    from tests.test_pipeline import export_tiny_checkpoints

    ckpt = export_tiny_checkpoints(tmp_path)
    clips = sorted((tiny_corpus / "test").glob("*/video.mp4"))
    for i in range(6):  # the tiny corpus has 2 test clips: 6 copies make two 30.72 s videos
        (tmp_path / "corpus" / "test" / f"{i:06d}").mkdir(parents=True)
        shutil.copy(clips[i % len(clips)], tmp_path / "corpus" / "test" / f"{i:06d}" / "video.mp4")
    result = evaluate_windows(corpus=tmp_path / "corpus", n=2, checkpoints=ckpt, progress=False)
    for name in ("outpainted", "independent"):
        rows = result["rows"][name]
        assert [r["windows"] for r in rows] == [4, 4] and rows[0]["duration_s"] == pytest.approx(30.72)
        assert all(0 <= r["beats_on_grid"] <= 1 and len(r["tempo_per_window"]) == 4 for r in rows)
    # the first window is sampled alike; only the windows after it may differ
    a, b = result["rows"]["outpainted"][0], result["rows"]["independent"][0]
    assert a["within_prob_change"] == b["within_prob_change"]
    assert "| each window on its own | 2 |" in markdown(result) and "paired bootstrap" in markdown(result)


@pytest.mark.parametrize(("args", "message"), [(["--n", "1"], "--n must be at least 2"),
                                               (["--corpus", "/nonexistent", "--n", "2"], "has 0 clips")])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
