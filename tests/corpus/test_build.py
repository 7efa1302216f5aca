"""The corpus command: layout, determinism, resumability, and labels that are true."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundtrack.corpus.build import BuildOptions, build_corpus, item_dir, split_of
from soundtrack.corpus.verify import verify_corpus
from soundtrack.video.decode import probe

N = 10


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(out, n=N, opts=BuildOptions(seed=3), workers=2, progress=False)
    return out


def test_layout_and_label_keys(corpus: Path) -> None:
    summary = json.loads((corpus / "corpus.json").read_text())
    assert summary["n"] == N and summary["splits"] == {"train": 8, "val": 1, "test": 1}
    for i in range(N):
        item = item_dir(corpus, i)
        assert item.parent.name == split_of(i)
        assert sorted(p.name for p in item.iterdir()) == ["labels.json", "mix.wav", "music.wav", "sfx.wav", "video.mp4"]
        labels = json.loads((item / "labels.json").read_text())
        for key in ("tempo_bpm", "beats", "key", "mode", "instruments", "events", "loudness"):
            assert key in labels
        assert 60 <= labels["tempo_bpm"] <= 180 and labels["mode"] in ("major", "minor")
        assert all({"time", "type", "x"} <= set(e) and 0 <= e["x"] <= 1 for e in labels["events"])
        info = probe(item / "video.mp4")
        assert abs(info.duration_s - 10.24) < 0.05 and (info.width, info.height) == (128, 128)
        music, sr = sf.read(item / "music.wav", dtype="float32")
        sfx, _ = sf.read(item / "sfx.wav", dtype="float32")
        mix, _ = sf.read(item / "mix.wav", dtype="float32")
        assert sr == 16_000 and music.shape == sfx.shape == mix.shape == (163_840,)
        np.testing.assert_allclose(music + sfx, mix, atol=3 / 32768)  # PCM-16 rounding of each
    assert not list(corpus.glob("*/.*")), "no temporary folders left behind"


def test_same_seed_same_bytes_whatever_the_worker_count(corpus: Path, tmp_path: Path) -> None:
    build_corpus(tmp_path, n=4, opts=BuildOptions(seed=3), workers=1, progress=False)
    for i in range(4):
        for name in ("music.wav", "sfx.wav", "mix.wav", "labels.json", "video.mp4"):
            a = (item_dir(corpus, i) / name).read_bytes()
            b = (item_dir(tmp_path, i) / name).read_bytes()
            assert a == b, (i, name)


def test_other_seed_other_corpus(corpus: Path, tmp_path: Path) -> None:
    build_corpus(tmp_path, n=1, opts=BuildOptions(seed=4), workers=1, progress=False)
    assert (item_dir(tmp_path, 0) / "music.wav").read_bytes() != (item_dir(corpus, 0) / "music.wav").read_bytes()


def test_rebuild_only_builds_what_is_missing(corpus: Path) -> None:
    import shutil

    victim = item_dir(corpus, 2)
    kept = item_dir(corpus, 1) / "music.wav"
    mtime = kept.stat().st_mtime_ns
    before = (victim / "mix.wav").read_bytes()
    shutil.rmtree(victim)
    summary = build_corpus(corpus, n=N, opts=BuildOptions(seed=3), workers=1, progress=False)
    assert summary["built"] == 1
    assert (victim / "mix.wav").read_bytes() == before and kept.stat().st_mtime_ns == mtime


def test_labels_are_true_on_a_sample(corpus: Path) -> None:
    """Small-sample version of `python -m soundtrack.corpus verify` (docs/DATA.md has the 200-item run)."""
    report = verify_corpus(corpus, n=N, progress=False)
    assert report["onset_f_pooled"] >= 0.9, report
    assert report["tempo_acc2"] >= 0.9 and report["tempo_acc1"] >= 0.7, report


def test_cli_build_and_bad_input(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "soundtrack.corpus", "build", "--out", str(tmp_path / "c"),
                         "--n", "1", "--seed", "0", "--workers", "1"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.strip().splitlines()[-1])["built"] == 1
    bad = subprocess.run([sys.executable, "-m", "soundtrack.corpus", "build", "--out", str(tmp_path / "d"),
                          "--n", "1", "--soundfonts", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown soundfont" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "soundtrack.corpus", "verify", str(tmp_path / "none")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no corpus folder" in missing.stderr and "Traceback" not in missing.stderr
