"""probe / iter_frames / read_frames: containers, timing, rotation, sizes, bad inputs, memory."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from soundtrack.config import VIDEO
from soundtrack.errors import InputError
from soundtrack.video.decode import iter_frames, probe, read_frames

from .conftest import REPO


def _levels(frames: np.ndarray) -> np.ndarray:
    """(N,) index i of the grey level 10 + 20 i each flat frame shows."""
    return np.round((frames.reshape(len(frames), -1).mean(axis=1) - 10) / 20).astype(int)


@pytest.mark.parametrize(
    ("suffix", "codec", "pix_fmt", "options"),
    [
        ("mp4", "libx264", "yuv420p", {}),
        ("mov", "libx264", "yuv420p", {}),
        ("avi", "mjpeg", "yuvj420p", {}),
        ("avi", "mpeg4", "yuv420p", {"qscale": "2"}),
        ("mkv", "libx264", "yuv420p", {}),
        ("webm", "libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8", "crf": "10"}),
    ],
)
def test_containers(
    counter_video: Callable[..., Path], suffix: str, codec: str, pix_fmt: str, options: dict[str, str]
) -> None:
    path = counter_video(f"count_{codec}.{suffix}", n=10, codec=codec, pix_fmt=pix_fmt, options=options)
    info = probe(path)
    assert (info.width, info.height, info.rotation, info.has_audio) == (64, 48, 0, False), f"{info=}"
    assert info.duration_s == pytest.approx(0.4, abs=1e-3), f"{info=}"
    assert info.fps == pytest.approx(25), f"{info=}"
    assert info.video_codec == {"libx264": "h264", "libvpx-vp9": "vp9"}.get(codec, codec)
    frames = read_frames(path)
    assert frames.frames.shape == (10, 72, 96, 3), f"{frames.frames.shape=}"
    np.testing.assert_allclose(frames.times, np.arange(10) / 25)
    np.testing.assert_array_equal(_levels(frames.frames), np.arange(10))


def test_iter_frames_matches_read_frames(counter_video: Callable[..., Path]) -> None:
    path = counter_video("count_h264.mp4", n=10)
    pairs = list(iter_frames(path, fps=10, width=32))
    frames = read_frames(path, fps=10, width=32)
    assert len(pairs) == 4 == frames.frames.shape[0], f"{len(pairs)=} {frames.frames.shape=}"
    for (t, image), t_ref, ref in zip(pairs, frames.times, frames.frames):
        assert t == t_ref and image.shape == (24, 32, 3)
        np.testing.assert_array_equal(image, ref)
    # t_k = 0, .1, .2, .3 s show source frames 0, 2, 5, 7 (the latest with pts <= t_k).
    np.testing.assert_array_equal(_levels(frames.frames), [0, 2, 5, 7])


def test_variable_frame_rate_sampled_at_true_times(counter_video: Callable[..., Path]) -> None:
    times = [0.0, 0.1, 0.13, 0.5, 0.52, 0.9, 1.0]
    path = counter_video("vfr.mp4", n=len(times), times_s=times, options={"bf": "0"})
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None]
    assert np.allclose(sorted(pts), times, atol=1e-3), f"{pts=}"  # really variable rate
    info = probe(path)
    assert 1.0 < info.duration_s < 1.2, f"{info=}"
    frames = read_frames(path)
    latest = [max(i for i, t in enumerate(times) if t <= k / 25 + 1e-9) for k in range(len(frames.times))]
    np.testing.assert_array_equal(_levels(frames.frames), latest)


@pytest.mark.parametrize(
    ("rotation", "corner"), [(90, "bottom-left"), (180, "bottom-right"), (270, "top-right")]
)
def test_rotation_upright(make_video: Callable[..., Path], rotation: int, corner: str) -> None:
    """Stored 64x48 with a marker top-left; shown rotated counter-clockwise by `rotation`."""
    image = np.full((48, 64, 3), 30, np.uint8)
    image[:12, :12] = 250
    path = make_video(f"rot{rotation}.mp4", np.stack([image] * 3), rotation=rotation)
    info = probe(path)
    assert info.rotation == rotation, f"{info=}"
    quarter = rotation in (90, 270)
    assert (info.width, info.height) == ((48, 64) if quarter else (64, 48)), f"{info=}"
    frames = read_frames(path).frames
    assert frames.shape[1:] == ((128, 96, 3) if quarter else (72, 96, 3)), f"{frames.shape=}"
    assert _bright_corner(frames[0].mean(axis=2)) == corner
    # FFmpeg's own autorotation agrees.
    raw = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert _bright_corner(np.frombuffer(raw, np.uint8).reshape(info.height, info.width)) == corner


def _bright_corner(gray: np.ndarray) -> str:
    ys, xs = np.nonzero(gray > 150)
    h, w = gray.shape
    return f"{'top' if ys.mean() < h / 2 else 'bottom'}-{'left' if xs.mean() < w / 2 else 'right'}"


def test_odd_size(make_video: Callable[..., Path]) -> None:
    frames = np.zeros((5, 97, 161, 3), np.uint8)
    frames[:, :, :80] = 200  # left half bright
    path = make_video("odd.mp4", frames, pix_fmt="yuv444p")
    info = probe(path)
    assert (info.width, info.height) == (161, 97), f"{info=}"
    out = read_frames(path).frames
    assert out.shape == (5, 58, 96, 3), f"{out.shape=}"  # 96 * 97 / 161 = 57.8 -> 58 (even)
    assert out[0, :, :40].mean() > 180 and out[0, :, 56:].mean() < 20


def test_audio_flag(counter_video: Callable[..., Path]) -> None:
    assert probe(counter_video("with_audio.mp4", n=10, audio_s=0.4)).has_audio
    assert not probe(counter_video("count_h264.mp4", n=10)).has_audio


def test_one_frame_video(counter_video: Callable[..., Path]) -> None:
    path = counter_video("one.mp4", n=1)
    info = probe(path)
    assert info.duration_s == pytest.approx(0.04, abs=1e-3) and info.n_frames == 1, f"{info=}"
    frames = read_frames(path)
    assert frames.frames.shape == (1, 72, 96, 3) and frames.times.tolist() == [0.0]


def test_duration_and_fps_from_header(
    counter_video: Callable[..., Path], bunny: Path, bikes: Path
) -> None:
    info = probe(counter_video("count30.mp4", n=12, fps=30))
    assert (info.fps, info.n_frames) == (pytest.approx(30), 12), f"{info=}"
    assert info.duration_s == pytest.approx(0.4, abs=1e-3), f"{info=}"
    frames = read_frames(info.path).frames
    assert frames.shape[0] == 10  # ceil(0.4 * 25)
    np.testing.assert_array_equal(_levels(frames), [k * 6 // 5 for k in range(10)])  # floor(k * 30 / 25)
    info = probe(bunny)
    assert (info.width, info.height, info.has_audio) == (1280, 720, True), f"{info=}"
    assert info.video_codec == "h264" and info.n_frames == 132, f"{info=}"
    assert info.duration_s == pytest.approx(5.28, abs=0.01) and info.fps == pytest.approx(25)
    info = probe(bikes)
    assert (info.width, info.height, info.has_audio) == (640, 272, False), f"{info=}"
    assert info.duration_s == pytest.approx(10.0, abs=0.01) and info.n_frames == 250


def _bad_input(
    kind: str, folder: Path, counter_video: Callable[..., Path]
) -> tuple[Path, dict[str, float]]:
    """A file of the given broken kind, and extra probe() arguments."""
    path = folder / f"bad_{kind}.mp4"
    good = counter_video("count_h264.mp4", n=10)
    if kind == "missing":
        return folder / "nope.mp4", {}
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a video\n" * 50)
    elif kind == "image":
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path, format="PNG")
    elif kind == "audio_only":
        with av.open(str(path), "w") as container:
            stream = container.add_stream("aac", rate=48_000, layout="stereo")
            for i in range(10):
                silence = np.zeros((2, 1024), np.float32)
                frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = 48_000, i * 1024
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    elif kind == "undecodable":  # valid index, all-zero picture data
        data = bytearray(good.read_bytes())
        start, size = _box(data, b"mdat")
        data[start + 8 : start + size] = bytes(size - 8)
        path.write_bytes(bytes(data))
    elif kind == "truncated":  # PyAV writes the 'moov' index last; cut before it
        data = good.read_bytes()
        start, _ = _box(data, b"moov")
        path.write_bytes(data[: start - 100])
    elif kind == "too_long":
        return good, {"max_duration_s": 0.2}
    return path, {}


def _box(data: bytes | bytearray, name: bytes) -> tuple[int, int]:
    """(offset, size) of a top-level MP4 box."""
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == name:
            return pos, size
        pos += size
    raise AssertionError(f"no {name!r} box")


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", "not found"),
        ("empty", "empty"),
        ("text", "not a readable video"),
        ("image", "still image"),
        ("audio_only", "no video stream"),
        ("undecodable", "no video frame could be decoded"),
        ("truncated", "incomplete MP4"),
        ("too_long", "0.2 s are supported"),
    ],
)
def test_bad_inputs_raise_one_line(
    tmp_path: Path, counter_video: Callable[..., Path], kind: str, words: str
) -> None:
    path, kwargs = _bad_input(kind, tmp_path, counter_video)
    with pytest.raises(InputError) as caught:
        probe(path, **kwargs)
    message = str(caught.value)
    assert words in message and "\n" not in message, f"{message=}"
    assert caught.value.__context__ is None or caught.value.__suppress_context__  # no chained traceback


def test_4k_decodes_with_bounded_memory(video_dir: Path) -> None:
    """25 frames of 3840x2160 would be 622 MB as RGB; the decoder may hold only a few."""
    path = video_dir / "uhd.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi",
         "-i", "testsrc2=size=3840x2160:rate=25:duration=1",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    script = textwrap.dedent(
        f"""
        from soundtrack.video.decode import probe, read_frames

        def peak_kb():  # VmHWM is this process's own peak (ru_maxrss starts at the parent's)
            line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
            return int(line.split()[1])

        probe({str(path)!r})  # imports and one decoded frame before the baseline
        before = peak_kb()
        frames = read_frames({str(path)!r})
        after = peak_kb()
        print(*frames.frames.shape, (after - before) * 1024)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO, check=True
    )
    n, h, w, c, growth = map(int, result.stdout.split())
    assert (n, h, w, c) == (25, 54, VIDEO.analysis_width, 3), f"{result.stdout=}"
    full_frame = 3840 * 2160 * 3
    assert growth < 10 * full_frame, f"peak RSS grew {growth / 2**20:.0f} MB"
