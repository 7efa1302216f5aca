"""The whole-video pipeline and `python -m soundtrack generate` on a tiny random model:
windows and outpainting, exact length, the six output files, byte-identical reruns, warm
start, and one-line refusals of bad input that leave nothing behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import torch

from soundtrack.errors import InputError
from soundtrack.pipeline import Settings, SoundtrackPipeline, join_windows, load_bundled, parse_instruments
from soundtrack.output import OUTPUT_FILES
from soundtrack.video.encode import write_video
from tests.test_pipeline import export_tiny_checkpoints

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(steps=2, snio_iters=1)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return export_tiny_checkpoints(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pipe(ckpt) -> SoundtrackPipeline:
    return SoundtrackPipeline(load_bundled(ckpt))


def flashing_video(path: Path, seconds: float, *, every_s: float = 2.0) -> Path:
    """A small 25 fps clip, dark with a white flash every `every_s` seconds."""
    n = int(round(seconds * 25))
    frames = np.full((n, 48, 64, 3), 30, np.uint8)
    for k in range(n):
        if (k / 25) % every_s < 0.08 and k > 0:
            frames[k] = 250
    return write_video(iter(frames), path, fps=25)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    return flashing_video(tmp_path_factory.mktemp("video") / "long clip é.mp4", 19.0)


def test_long_video_is_generated_in_windows_to_its_exact_length(pipe, long_video):
    updates = list(pipe.stream(long_video, Settings(tempo=100, **FAST)))
    kinds = [u.kind for u in updates]
    assert kinds.count("window") == 3 and kinds[-1] == "done"  # 19 s: 3 windows of 10.24 s, hop 7.68 s
    assert kinds.count("snio") == 3 * (FAST["snio_iters"] + 1)
    progress = [u.progress for u in updates]
    assert progress == sorted(progress) and progress[-1] == 1.0
    take = updates[-1].take
    assert take.music16.shape == take.sfx16.shape == (19 * 16000,)
    assert take.mix.mix.shape == (2, 19 * 48000) and take.mix.sr == 48000
    assert np.allclose(take.mix.music + take.mix.sfx, take.mix.mix)
    assert abs(take.mix.mix_lufs + 16.0) < 0.5 and take.mix.mix_dbtp <= -1.0 + 1e-3
    r = take.report
    assert len(r["windows"]) == 3 and r["windows"][1]["start_s"] == pytest.approx(7.68)
    # SNIO scores what is heard: the video ends 3.64 s into the last window (snio.md eq. 8c)
    assert [w["heard_s"] for w in r["windows"]] == pytest.approx([10.24, 10.24, 3.64])
    assert set(r["scores"]) == {"before_snio", "after_snio", "output"}
    assert {"analyse", "snio", "sample", "decode", "vocode", "mix", "total"} <= set(r["timings_s"])
    assert len(take.snio_offsets) == 3


def test_same_seed_same_take_and_warm_start_changes_it(pipe, long_video):
    s = Settings(tempo=90, seed=3, **FAST)
    a, b = pipe(long_video, s), pipe(long_video, s)
    assert np.array_equal(a.mix.mix, b.mix.mix)
    c = pipe(long_video, Settings(tempo=90, seed=4, **FAST))
    assert not np.array_equal(a.music16, c.music16)
    warm = pipe(long_video, s, warm_offsets=a.snio_offsets)  # SNIO continues from a's optimised noise
    assert all(torch.equal(n0, n1) is False for n0, n1 in zip(a.snio_offsets, warm.snio_offsets))


def test_join_windows_crossfades_and_cuts():
    ones = [np.ones(163840, np.float32)] * 3
    out = join_windows(ones, 19 * 16000)
    assert out.shape == (304000,)
    assert np.allclose(out, 1.0, atol=1e-6)  # linear fades of equal signals sum to the signal


@pytest.mark.parametrize("kwargs, message", [
    ({"balance": 3}, "balance must be between 0 and 1"),
    ({"balance": float("nan")}, "balance must be between 0 and 1"),
    ({"tempo": 500}, "tempo must be between 60 and 180"),
    ({"tempo": "fast"}, "tempo must be a BPM number or 'auto'"),
    ({"steps": 0}, "steps must be between 1 and 200"),
    ({"steps": "ten"}, "steps must be a whole number"),
    ({"seed": -1}, "seed must be between 0 and"),
    ({"instruments": {"kazoo": 1.0}}, "unknown instrument family 'kazoo'"),
    ({"instruments": {"piano": 0.0}}, "choose at least one instrument family"),
])
def test_settings_refuse_bad_values_in_one_line(kwargs, message):
    with pytest.raises(InputError, match=message) as e:
        Settings(**kwargs)
    assert "\n" not in str(e.value)


def test_settings_round_trip_and_instrument_parsing():
    s = Settings(tempo=97, instruments=parse_instruments("piano, strings:0.5,drums"), key="Bb", mode="minor",
                 seed=11)
    assert Settings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert s.instruments == {"piano": 1.0, "strings": 0.5, "drums": 1.0}
    with pytest.raises(InputError, match="unknown setting"):
        Settings.from_dict({"tempo": 100, "volume": 11})


def _cli(*args: str, ckpt: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "soundtrack", "generate", *args, "--checkpoints", str(ckpt),
                           "--threads", "1", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("engine", [None, "neural", "score"])
def test_cli_writes_the_six_files_and_reruns_byte_identically(ckpt, tmp_path, engine):
    """Each engine (None: the default, config.DEFAULT_ENGINE): the files, the report, a byte-identical
    rerun and the same take from the settings JSON; the score engine adds its notes, music.mid."""
    from soundtrack.config import DEFAULT_ENGINE

    video = ROOT / "assets" / "bikes.mp4"
    pick = [] if engine is None else ["--engine", engine]
    args = ["--tempo", "120", "--instruments", "piano,drums", "--balance", "0.7", "--seed", "5", "--steps", "2",
            "--snio-iters", "1", *pick]
    engine = engine or DEFAULT_ENGINE
    a = _cli(str(video), "--out", str(tmp_path / "a"), *args, ckpt=ckpt)
    assert a.returncode == 0, a.stderr
    want = OUTPUT_FILES + (("music.mid",) if engine == "score" else ())
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(want)
    for name in ("music.wav", "sfx.wav", "mix.wav"):
        info = sf.info(tmp_path / "a" / name)
        assert (info.samplerate, info.channels) == (48000, 2) and info.duration == pytest.approx(10.0, abs=1e-3)
    with av.open(str(tmp_path / "a" / "soundtrack.mp4")) as c:
        audio = c.streams.audio[0]
        assert float(audio.duration * audio.time_base) == pytest.approx(10.0, abs=0.05)
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["settings"]["seed"] == 5 and report["tempo_requested_bpm"] == 120
    grid = report["beat_grid"]  # the grid the music was conditioned on: the request, phased to the picture
    assert grid["bpm"] == 120 and 0 <= grid["first_beat_s"] < 0.5 and grid["downbeat"] in (0, 1, 2, 3)
    assert report["tempo_measured_bpm"] >= 0 and "total" in report["timings_s"]
    assert report["engine"] == engine
    assert set(report["scores"]["before_snio"]) >= {"tempo", "balance", "sync", "total"} | (
        {"presence", "density", "accents"} if engine == "score" else {"cvsm"})
    assert report["video"]["events"] > 0 and report["notes"] == [] and "note:" not in a.stderr
    b = _cli(str(video), "--out", str(tmp_path / "b"), *args, ckpt=ckpt)
    assert b.returncode == 0, b.stderr
    for name in ("music.wav", "sfx.wav", "mix.wav"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # the studio's settings JSON restores the same take
    (tmp_path / "s.json").write_text(json.dumps({"settings": report["settings"]}))
    c = _cli(str(video), "--out", str(tmp_path / "c"), "--settings", str(tmp_path / "s.json"), *pick, ckpt=ckpt)
    assert c.returncode == 0, c.stderr
    assert (tmp_path / "a" / "mix.wav").read_bytes() == (tmp_path / "c" / "mix.wav").read_bytes()


def test_cli_notes_a_video_without_events(ckpt, tmp_path):
    """Big Buck Bunny's clip has no cuts, flashes or impacts: the effects follow nothing, and the
    command says so (stderr and report.json), unless the balance is music only."""
    from soundtrack.pipeline import NO_EVENTS_NOTE

    video = str(ROOT / "assets" / "bigbuckbunny.mp4")
    fast = ["--seed", "1", "--steps", "2", "--snio-iters", "0"]
    r = _cli(video, "--out", str(tmp_path / "a"), *fast, ckpt=ckpt)
    assert r.returncode == 0, r.stderr
    assert f"note: {NO_EVENTS_NOTE}" in r.stderr
    assert json.loads((tmp_path / "a" / "report.json").read_text())["notes"] == [NO_EVENTS_NOTE]
    r = _cli(video, "--out", str(tmp_path / "b"), "--balance", "0", *fast, ckpt=ckpt)
    assert r.returncode == 0 and "note:" not in r.stderr


def short_audio_video(path: Path) -> Path:
    """A 4 s video whose audio track stops after 1 s (a broken track to keep)."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=128x96:rate=25:duration=4", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-c:v", "libx264", "-c:a", "aac", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def test_cli_keeps_the_original_sound_with_recorded_effects(ckpt, tmp_path):
    """--original keep --effects recorded on a video with a real soundtrack: its sound is mixed under
    the soundtrack (original.wav), the stems stay the soundtrack's, loudness and true peak hold."""
    from soundtrack.audio.mix import loudness_lufs, true_peak_dbtp

    out = tmp_path / "keep"
    r = _cli(str(ROOT / "assets" / "bigbuckbunny.mp4"), "--out", str(out), "--original", "keep", "--effects",
             "recorded", "--seed", "1", "--steps", "2", "--snio-iters", "0", ckpt=ckpt)
    assert r.returncode == 0, r.stderr
    assert "original.wav" in {p.name for p in out.iterdir()}
    wav = {n: sf.read(out / f"{n}.wav", always_2d=True)[0].T for n in ("music", "sfx", "mix", "original")}
    assert np.allclose(wav["music"] + wav["sfx"] + wav["original"], wav["mix"], atol=3e-4)
    assert loudness_lufs(wav["mix"], 48000) == pytest.approx(-16.0, abs=0.5)
    assert true_peak_dbtp(wav["mix"], 48000) <= -1.0 + 0.05  # 16-bit rounding
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["original"] == "keep" and report["effects"]["mode"] == "recorded"
    assert {"hits", "misses", "false_alarms"} <= set(report["effects"])


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, args, message", [
    (lambda d: d / "missing.mp4", [], "missing.mp4"),
    (lambda d: _file(d / "empty.mp4", b""), [], "empty.mp4"),
    (lambda d: _file(d / "text.mp4", b"hello, not a video"), [], "text.mp4"),
    (lambda d: ROOT / "assets" / "bikes.mp4", ["--balance", "2"], "balance must be between 0 and 1"),
    (lambda d: ROOT / "assets" / "bikes.mp4", ["--tempo", "nan"], "tempo must be between 60 and 180"),
    (lambda d: ROOT / "assets" / "bikes.mp4", ["--instruments", "kazoo"], "unknown instrument family"),
    (lambda d: ROOT / "assets" / "bikes.mp4", ["--steps", "x"], "invalid int value"),
    (lambda d: ROOT / "assets" / "bikes.mp4", ["--effects", "foley"], "invalid choice: 'foley'"),
    (lambda d: ROOT / "assets" / "bikes.mp4", ["--original", "keep"], "own sound cannot be kept: its audio track is"),
    (lambda d: short_audio_video(d / "short audio.mp4"), ["--original", "keep"], "its audio track is broken"),
    (lambda d: ROOT / "assets" / "bikes.mp4", ["--original-db", "40"], "original_db must be between"),
])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(ckpt, tmp_path, make, args, message):
    video = make(tmp_path)
    out = tmp_path / "out"
    r = _cli(str(video), "--out", str(out), *args, ckpt=ckpt)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not out.exists()
    assert not any(p.name.startswith(".out.partial") for p in tmp_path.iterdir())


def test_two_requests_at_once_are_safe(pipe):
    """Two threads share one pipeline: each gets exactly the take it would get alone."""
    import threading

    video = ROOT / "assets" / "bigbuckbunny.mp4"
    settings = [Settings(tempo=80, seed=1, **FAST), Settings(tempo=140, seed=2, balance=0.8, **FAST)]
    alone = [pipe(video, s).mix.mix for s in settings]
    results: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, pipe(video, settings[k]).mix.mix))
               for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert all(np.array_equal(results[k], alone[k]) for k in range(2))
