"""Reliability of `python -m soundtrack generate` and the pipeline on bad, odd and hostile input
(docs/RELIABILITY.md lists every case and where it is tested).

Bad input: one line on stderr, exit 2, nothing written into --out and no `.partial-` folder
left beside it. Odd input that is still a video (one frame, variable frame rate, rotated
phone video, 8K, odd file names) must work. The CLI runs in-process (`generate.main`) on a
tiny random model so each run costs a second; tests/test_generate.py runs it as a real
subprocess and covers a missing, empty or text file and bad option values.
"""
from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from soundtrack.errors import InputError
from soundtrack.cli import main
from soundtrack.pipeline import Settings
from soundtrack.config import DEFAULT_ENGINE
from soundtrack.output import take_files
from tests.test_pipeline import export_tiny_checkpoints
from tests.video.conftest import write_video
from tests.video.test_decode import _box

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
FAST = ["--steps", "2", "--snio-iters", "0"]


# ------------------------------------------------------------------------------------ input files
def _counter(n: int, *, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    """(n, H, W, 3) flat grey frames, level 10 + 20 i (mod 250)."""
    return np.stack([np.full((*size, 3), (10 + 20 * i) % 250, np.uint8) for i in range(n)])


def make_input(kind: str, folder: Path, name: str | None = None) -> Path:
    """A small input file of the given kind in `folder` (named `name` or after the kind).

    Refused: empty, text, png (a PNG renamed .mp4), wav (a WAV renamed .mp4), m4a (an MP4
    with only an AAC track), undecodable (valid index, zeroed picture data), truncated
    (first half of assets/bikes.mp4, whose 'moov' index is at the end), too_long (two
    16x16 frames 601 s apart: a 601 s video of 1.5 kB).
    Accepted: one_frame, vfr (8 frames at irregular times), rotated (display matrix 90
    degrees, as phones write), cut_tail (first half of assets/night-hits.mp4, index first).
    """
    path = folder / (name or f"{kind}.mp4")
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a video\n" * 40)
    elif kind == "png":
        buf = io.BytesIO()
        Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(buf, format="PNG")
        path.write_bytes(buf.getvalue())
    elif kind == "wav":
        from soundtrack.audio.io import write_wav

        wav = path.with_name(path.name + ".wav")
        write_wav(wav, 0.1 * np.sin(np.arange(48000) / 10).astype(np.float32), sr=48000)
        wav.rename(path)
    elif kind == "m4a":
        with av.open(str(path), "w", format="mp4") as container:
            stream = container.add_stream("aac", rate=48_000, layout="stereo")
            for i in range(20):
                silence = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp",
                                                     layout="stereo")
                silence.sample_rate, silence.pts = 48_000, i * 1024
                container.mux(stream.encode(silence))
            container.mux(stream.encode(None))
    elif kind == "undecodable":
        data = bytearray(write_video(folder / f".{kind}-src.mp4", _counter(10)).read_bytes())
        start, size = _box(data, b"mdat")
        data[start + 8:start + size] = bytes(size - 8)
        path.write_bytes(bytes(data))
        (folder / f".{kind}-src.mp4").unlink()
    elif kind == "truncated":
        data = (ASSETS / "bikes.mp4").read_bytes()
        assert _box(data, b"moov")[0] > len(data) // 2  # faststart off: the index is at the end
        path.write_bytes(data[:len(data) // 2])
    elif kind == "too_long":
        write_video(path, np.full((2, 16, 16, 3), 50, np.uint8), times_s=[0.0, 601.0])
    elif kind == "one_frame":
        write_video(path, _counter(1))
    elif kind == "vfr":
        write_video(path, _counter(8), times_s=[0, 0.1, 0.15, 0.5, 0.55, 0.9, 1.5, 1.9])
    elif kind == "rotated":
        write_video(path, _counter(25), rotation=90)
    elif kind == "cut_tail":
        data = (ASSETS / "night-hits.mp4").read_bytes()
        assert _box(data, b"moov")[0] < 100  # index first: the cut loses picture data only
        path.write_bytes(data[:len(data) // 2])
    else:
        raise AssertionError(kind)
    return path


BAD = [  # (kind, words in the one-line message)
    ("png", "is a still image, not a video"),
    ("wav", "has audio but no video stream"),
    ("m4a", "has audio but no video stream"),
    ("undecodable", "no video frame could be decoded"),
    ("truncated", "is an incomplete MP4 (no 'moov' index"),
    ("too_long", "is 601.0 s long; videos up to 600 s are supported"),
]


# ------------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return export_tiny_checkpoints(tmp_path_factory.mktemp("tiny"))


def cli(capsys, *args: str, ckpt: Path) -> tuple[int, str, str]:
    """`python -m soundtrack generate ARGS` in this process: (exit code, stdout, stderr)."""
    try:
        code = main(["--checkpoints", str(ckpt), "--threads", "1", "--quiet", *FAST, *args])  # ARGS may end in "-- NAME"
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def _partials(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".partial-" in p.name]


@pytest.mark.parametrize(("kind", "words"), BAD)
def test_cli_refuses_a_bad_video_in_one_line_and_leaves_out_untouched(ckpt, tmp_path, capsys, kind, words):
    video = make_input(kind, tmp_path)
    fresh, kept = tmp_path / "fresh", tmp_path / "kept"
    kept.mkdir()
    (kept / "music.wav").write_bytes(b"an earlier take")
    for out in (fresh, kept):
        code, stdout, stderr = cli(capsys, str(video), "--out", str(out), ckpt=ckpt)
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert code == 2 and stdout == "", stderr
        assert len(lines) == 1 and lines[0].startswith(f"error: {video.name}") and words in lines[0], stderr
        assert "Traceback" not in stderr
    assert not fresh.exists()
    assert [p.name for p in kept.iterdir()] == ["music.wav"] and (kept / "music.wav").read_bytes() == b"an earlier take"
    assert _partials(tmp_path) == []


def test_too_long_video_is_refused_from_its_header_before_any_decoding(tmp_path):
    """601 s is refused by probe() in milliseconds, whatever the cap."""
    import time

    from soundtrack.video.decode import probe

    video = make_input("too_long", tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="601.0 s long"):
        probe(video)
    assert time.perf_counter() - t0 < 2.0
    assert probe(video, max_duration_s=700).duration_s == pytest.approx(601.0, abs=0.05)


@pytest.mark.parametrize("error", [InputError("could not write soundtrack.mp4: No space left on device"),
                                   RuntimeError("a bug while muxing")])
def test_a_failure_while_writing_leaves_no_partial_folder(ckpt, tmp_path, capsys, monkeypatch, error):
    import importlib

    def fail(*args, **kwargs):
        raise error

    # write_take imports mux from its module at call time (the package re-exports the name)
    monkeypatch.setattr(importlib.import_module("soundtrack.video.mux"), "mux", fail)
    out = tmp_path / "out"
    if isinstance(error, InputError):
        code, _, stderr = cli(capsys, str(ASSETS / "night-hits.mp4"), "--out", str(out), ckpt=ckpt)
        assert code == 2 and stderr.strip() == f"error: {error}", stderr
    else:  # a bug is a traceback, but the temporary folder still goes
        with pytest.raises(RuntimeError, match="a bug while muxing"):
            cli(capsys, str(ASSETS / "night-hits.mp4"), "--out", str(out), ckpt=ckpt)
    assert not out.exists() and _partials(tmp_path) == []


def _media_seconds(path: Path) -> tuple[float, float, int, int]:
    """(video s, audio s, video frames, display rotation) of an output mp4."""
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        first = next(c.decode(v))
        return (float(v.duration * v.time_base), float(a.duration * a.time_base), v.frames, first.rotation)


@pytest.mark.parametrize(("kind", "seconds", "frames", "rotation"), [
    ("one_frame", 0.04, 1, 0),  # no minimum length: one frame gets a 40 ms soundtrack
    ("vfr", 1.94, 8, 0),  # 8 frames at irregular times; the soundtrack follows the true times
    ("rotated", 1.0, 25, 90),  # phone video: analysed upright, the output keeps the display matrix
])
def test_odd_but_valid_videos_get_a_soundtrack_exactly_as_long(ckpt, tmp_path, capsys, kind, seconds, frames,
                                                               rotation):
    video = make_input(kind, tmp_path)
    code, stdout, stderr = cli(capsys, str(video), "--out", str(tmp_path / "out"), ckpt=ckpt)
    assert code == 0, stderr
    assert json.loads(stdout)["files"] == take_files(notes=DEFAULT_ENGINE == "score")
    for stem in ("music", "sfx", "mix"):
        info = sf.info(tmp_path / "out" / f"{stem}.wav")
        assert (info.samplerate, info.channels, info.frames) == (48000, 2, round(seconds * 48000))
    v_s, a_s, n, rot = _media_seconds(tmp_path / "out" / "soundtrack.mp4")
    assert v_s == pytest.approx(seconds, abs=1e-3) and a_s == pytest.approx(seconds, abs=0.03)
    assert (n, rot) == (frames, rotation)
    assert _partials(tmp_path) == []


def test_an_mp4_cut_after_its_index_is_scored_to_its_stated_length(ckpt, tmp_path, capsys):
    """The first half of a faststart MP4: frames stop at ~3.6 s, the header says 8 s; the
    last decoded frame is held and the soundtrack lasts the stated 8 s."""
    video = make_input("cut_tail", tmp_path)
    code, _, stderr = cli(capsys, str(video), "--out", str(tmp_path / "out"), ckpt=ckpt)
    assert code == 0, stderr
    assert sf.info(tmp_path / "out" / "mix.wav").frames == 8 * 48000


@pytest.mark.parametrize("name", [
    "vidéo ☃ ..x.mp4",  # non-ASCII, spaces and dots
    "-starts-with-a-dash.mp4",
    "pipe:1.mp4",  # FFmpeg protocol syntax: must be read as a file, not stdin
    "data:,x.MP4",
])
def test_odd_file_names_work(ckpt, tmp_path, capsys, monkeypatch, name):
    """Relative names as a user types them, with an output folder named just as oddly."""
    monkeypatch.chdir(tmp_path)
    make_input("one_frame", tmp_path, name)
    out = f"out {name}"
    # a leading '-' is an option to argparse: `--` (or ./NAME) ends the options
    args = ["--out", out, "--", name] if name.startswith("-") else [name, "--out", out]
    code, stdout, stderr = cli(capsys, *args, ckpt=ckpt)
    assert code == 0, stderr
    files = take_files(notes=DEFAULT_ENGINE == "score")
    assert sorted(p.name for p in (tmp_path / out).iterdir()) == sorted(files)
    assert json.loads((tmp_path / out / "report.json").read_text())["video"]["file"] == name


def test_a_name_with_a_leading_dash_without_double_dash_is_a_usage_error(ckpt, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_input("one_frame", tmp_path, "-x.mp4")
    code, _, stderr = cli(capsys, "-x.mp4", "--out", "out", ckpt=ckpt)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "(see --help)" in lines[0], stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--balance", "inf"], "balance must be between 0 and 1, got inf"),
    (["--balance=-nan"], "balance must be between 0 and 1, got nan"),
    (["--guidance", "nan"], "guidance must be between 1 and 15, got nan"),
    (["--intensity", "0.1"], "intensity must be between 0.6 and 1, got 0.1"),
    (["--tempo", "1e400"], "tempo must be between 60 and 180, got inf"),
    (["--seed", "-1"], "seed must be between 0 and 2147483647, got -1"),
    (["--snio-iters", "51"], "snio_iters must be between 0 and 50, got 51"),
    (["--key", "H"], "unknown key 'H'"),
    (["--instruments", "piano:2"], "weight of piano must be between 0 and 1, got 2"),
    (["--threads", "0"], "--threads must be >= 1, got 0"),
    (["--balance", "half"], "invalid float value: 'half'"),
])
def test_cli_refuses_bad_control_values_in_one_line(ckpt, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    code, _, stderr = cli(capsys, str(ASSETS / "night-hits.mp4"), "--out", str(out), *args, ckpt=ckpt)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], stderr
    assert not out.exists() and _partials(tmp_path) == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tempo": 10**400}, "tempo must be between 60 and 180, got inf"),  # JSON can carry such an int
    ({"balance": -10**400}, "balance must be between 0 and 1, got -inf"),
    ({"instruments": {"piano": 10**400}}, "weight of piano must be between 0 and 1, got inf"),
    ({"balance": True}, "balance must be a number, got True"),
    ({"tempo": [120]}, "tempo must be a number, got [120]"),
    ({"tempo": None}, "tempo must be a number, got None"),
    ({"seed": float("inf")}, "seed must be a whole number, got inf"),
    ({"steps": 1e300}, "steps must be between 1 and 200"),
    ({"key": None}, "unknown key None"),
    ({"mode": ["major"]}, "mode must be 'major' or 'minor'"),
    ({"instruments": ["piano"]}, "instruments must map family names to weights, got list"),
    ({"instruments": {"piano": "1"}}, "weight of piano must be a number, got '1'"),
])
def test_settings_refuse_hostile_values_in_one_line(kwargs, message):
    with pytest.raises(InputError) as e:
        Settings(**kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------------------------ 8K, memory
def test_8k_is_analysed_downscaled_with_bounded_memory(tmp_path):
    """prepare_video (the CLI's and the studio's analysis) on ten 7680x4320 frames: 995 MB as
    full-size RGB; peak RSS may grow by the few frames the decoder threads hold, not by all."""
    path = tmp_path / "8k.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi",
         "-i", "testsrc2=size=7680x4320:rate=25:duration=0.4",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "1", str(path)],
        check=True,
    )  # fmt: skip
    # VmHWM (peak RSS of this process image), not ru_maxrss: a child's ru_maxrss starts at
    # its parent's, which is pytest's with torch loaded, and would hide the growth
    script = textwrap.dedent(f"""
        import re, time
        import soundtrack.video.features, soundtrack.video.matrix
        from soundtrack.video.plan import prepare_video
        def peak():
            return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read())[1]) * 1024
        before = peak()
        t0 = time.perf_counter()
        plan = prepare_video({str(path)!r})
        seconds = time.perf_counter() - t0
        print(*plan.features.shape, *plan.thumbs.shape, peak() - before, round(seconds, 2))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT,
                            check=True)
    *shapes, growth, seconds = result.stdout.split()
    assert list(map(int, shapes)) == [10, 14, 10, 3, 32, 32], result.stdout
    full_frame = 7680 * 4320 * 3
    print(f"8K: 10 frames analysed in {seconds} s, peak RSS +{int(growth) / 2**20:.0f} MB "
          f"(all frames as RGB: {10 * full_frame / 2**20:.0f} MB)")
    assert int(growth) < 6 * full_frame, f"peak RSS grew {int(growth) / 2**20:.0f} MB"


def test_an_extreme_aspect_ratio_is_analysed_at_a_bounded_size(tmp_path):
    """A 16x2048 strip would give 96x12288 analysis frames (gigabytes for a few seconds,
    minutes of analysis); the analysis height is capped at twice the width."""
    from soundtrack.video.decode import probe, read_frames

    tall = write_video(tmp_path / "tall.mp4", np.full((5, 2048, 16, 3), 90, np.uint8))
    wide = write_video(tmp_path / "wide.mp4", np.full((5, 16, 2048, 3), 90, np.uint8))
    assert probe(tall).analysis_size(96) == (96, 192)
    assert read_frames(tall).frames.shape == (5, 192, 96, 3)
    assert read_frames(wide).frames.shape == (5, 2, 96, 3)
    phone = probe(make_input("rotated", tmp_path))  # 48 x 64 upright: aspect kept below the cap
    assert phone.analysis_size(96) == (96, 128)


# ------------------------------------------------------------------------------------- security
def _python_files() -> list[Path]:
    files = [ROOT / "app.py", *sorted((ROOT / "soundtrack").rglob("*.py")), *sorted((ROOT / "scripts").glob("*.py"))]
    assert len(files) > 20
    return files


def test_weights_load_from_safetensors_or_weights_only_and_nothing_is_unpickled():
    """No pickle anywhere: torch.load only with weights_only=True, no pickle/dill/joblib/
    shelve/marshal, no np.load(allow_pickle=True), no yaml.load, no torch.jit.load."""
    banned_modules = {"pickle", "cPickle", "_pickle", "dill", "joblib", "shelve", "marshal", "cloudpickle"}
    problems, torch_loads = [], []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                problems += [f"{where}:{node.lineno} import {a.name}" for a in node.names
                             if a.name.split(".")[0] in banned_modules]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in banned_modules:
                problems.append(f"{where}:{node.lineno} from {node.module} import")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                call = ast.unparse(node.func)
                kwargs = {k.arg: k.value for k in node.keywords}
                if call == "torch.load":
                    torch_loads.append(f"{where}:{node.lineno}")
                    value = kwargs.get("weights_only")
                    if not (isinstance(value, ast.Constant) and value.value is True):
                        problems.append(f"{where}:{node.lineno} torch.load without weights_only=True")
                elif call in ("np.load", "numpy.load"):
                    value = kwargs.get("allow_pickle")
                    if value is not None and not (isinstance(value, ast.Constant) and value.value is False):
                        problems.append(f"{where}:{node.lineno} np.load with allow_pickle")
                elif call in ("yaml.load", "torch.jit.load", "pd.read_pickle", "pandas.read_pickle"):
                    problems.append(f"{where}:{node.lineno} {call}")
    assert problems == []
    # resuming a run; weights are safetensors
    assert [t.split(":")[0] for t in torch_loads] == ["soundtrack/training/loop.py"]


def test_model_weights_are_read_with_safetensors():
    """Every model the pipeline loads is fed by safetensors' load_file (no code in the file)."""
    for path in _python_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ".load_state_dict(" in line:
                where = f"{path.relative_to(ROOT)}:{number}"
                # training/loop.py: resuming from last.pt (torch.load with weights_only=True, checked above)
                # and a fine-tune's start, whose `state` is safetensors' load_file of another run
                in_loop = path.relative_to(ROOT).as_posix() == "soundtrack/training/loop.py"
                resume = in_loop and line.strip() in (
                    'model.load_state_dict(state["model"])', 'opt.load_state_dict(state["opt"])',
                    "model.load_state_dict(state, strict=False)")
                ok = "load_state_dict(load_file(" in line or resume
                assert ok, f"{where}: {line.strip()}"
