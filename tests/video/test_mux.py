"""mux: exact audio length, stream copy vs re-encode, atomic output, clear errors."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest
from scipy.io import wavfile

from soundtrack.errors import InputError
from soundtrack.video.decode import probe
from soundtrack.video.mux import mux

AAC_FRAME_S = 1024 / 48_000


def _wav(path: Path, seconds: float, *, sr: int = 48_000, channels: int = 2) -> Path:
    """A 440 Hz tone at amplitude 0.3."""
    t = np.arange(round(seconds * sr)) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    wavfile.write(path, sr, np.stack([tone] * channels, axis=1) if channels > 1 else tone)
    return path


def _video_packets(path: Path) -> tuple[str, list[bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.name, [bytes(p) for p in container.demux(stream) if p.size]


def _audio(path: Path) -> tuple[float, np.ndarray, int, int]:
    """(stream duration s, decoded (C, T) float samples, sample rate, number of audio streams)."""
    with av.open(str(path)) as container:
        n_streams = len(container.streams.audio)
        stream = container.streams.audio[0]
        duration = float(stream.duration * stream.time_base)
        samples = np.concatenate([f.to_ndarray() for f in container.decode(stream)], axis=1)
        return duration, samples, stream.codec_context.sample_rate, n_streams


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


@pytest.mark.parametrize("wav_seconds", [2.0, 8.0])
def test_bunny_audio_padded_or_trimmed_to_video(tmp_path: Path, bunny: Path, wav_seconds: float) -> None:
    out = mux(bunny, _wav(tmp_path / "music.wav", wav_seconds), tmp_path / "out.mp4")
    video = probe(bunny).duration_s

    # Picture: copied packet for packet.
    assert _video_packets(out) == _video_packets(bunny)
    # Sound: only ours, 48 kHz stereo AAC, exactly the video's length.
    duration, samples, rate, n_streams = _audio(out)
    assert (n_streams, rate, samples.shape[0]) == (1, 48_000, 2), f"{n_streams=} {rate=} {samples.shape=}"
    assert abs(duration - video) <= AAC_FRAME_S + 1e-3, f"{duration=} {video=}"
    assert abs(samples.shape[1] / rate - video) <= AAC_FRAME_S + 1e-3, f"{samples.shape=}"
    assert _rms(samples[:, 24_000:72_000]) == pytest.approx(0.3 / np.sqrt(2), rel=0.05)  # 0.5-1.5 s
    tail = samples[:, 120_000:240_000]  # 2.5-5 s: silence if the WAV was 2 s long
    assert _rms(tail) < 1e-3 if wav_seconds < video else _rms(tail) > 0.2
    assert probe(out).has_audio and out.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("source", "codec", "pix_fmt", "size", "target", "copied"),
    [
        ("mkv", "libx264", "yuv420p", (48, 64), "mp4", True),
        ("webm", "libvpx-vp9", "yuv420p", (48, 64), "mp4", True),
        ("mov", "mpeg4", "yuv420p", (48, 64), "mp4", True),
        ("avi", "mjpeg", "yuvj420p", (48, 64), "mov", True),
        ("avi", "mjpeg", "yuvj420p", (97, 161), "mp4", False),  # re-encoded, to even 160x96
    ],
)
def test_copy_or_reencode(
    tmp_path: Path,
    make_video: Callable[..., Path],
    source: str,
    codec: str,
    pix_fmt: str,
    size: tuple[int, int],
    target: str,
    copied: bool,
) -> None:
    h, w = size
    frames = np.stack([np.full((h, w, 3), 20 * i, np.uint8) for i in range(10)])
    options = {"deadline": "realtime", "cpu-used": "8"} if codec == "libvpx-vp9" else {}
    name = f"mux_{codec}_{w}.{source}"
    src = make_video(name, frames, codec=codec, pix_fmt=pix_fmt, options=options, audio_s=0.3)
    out = mux(src, _wav(tmp_path / "short.wav", 0.1, sr=16_000, channels=1), tmp_path / f"out.{target}")

    src_codec, src_packets = _video_packets(src)
    out_codec, out_packets = _video_packets(out)
    if copied:
        assert (out_codec, out_packets) == (src_codec, src_packets)
    else:
        assert out_codec == "h264" and len(out_packets) == len(src_packets)
        info = probe(out)
        assert (info.width, info.height) == (w - w % 2, h - h % 2), f"{info=}"
    duration, samples, rate, n_streams = _audio(out)
    assert (n_streams, rate, samples.shape[0]) == (1, 48_000, 2)
    assert abs(duration - probe(src).duration_s) <= AAC_FRAME_S + 1e-3, f"{duration=}"


def test_shorter_duration_cuts_both(tmp_path: Path, bunny: Path) -> None:
    out = mux(bunny, _wav(tmp_path / "music.wav", 8.0), tmp_path / "cut.mp4", duration_s=2.0)
    duration, _, _, _ = _audio(out)
    assert abs(duration - 2.0) <= AAC_FRAME_S + 1e-3, f"{duration=}"
    assert probe(out).duration_s == pytest.approx(2.0, abs=0.05)


def test_failing_ffmpeg_leaves_nothing(tmp_path: Path, bunny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ffmpeg that writes half a file and fails: no output, no temporary file, and an
    existing output stays as it was."""
    fake = tmp_path / "ffmpeg"
    script = ["#!/bin/sh", "for last; do :; done", 'echo half > "$last"']  # last argument: output
    script += ['echo "[out] No space left" >&2', "exit 1"]
    fake.write_text("\n".join(script) + "\n")
    fake.chmod(0o755)
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(fake))
    wav = _wav(tmp_path / "music.wav", 1.0)
    out = tmp_path / "out.mp4"
    with pytest.raises(InputError) as caught:
        mux(bunny, wav, out)
    assert str(caught.value) == "could not write out.mp4: [out] No space left", f"{caught.value}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ffmpeg", "music.wav"]
    out.write_bytes(b"previous")
    with pytest.raises(InputError):
        mux(bunny, wav, out)
    assert out.read_bytes() == b"previous" and len(list(tmp_path.iterdir())) == 3


def test_unreadable_audio_is_refused_before_ffmpeg(tmp_path: Path, bunny: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF" + bytes(100))
    with pytest.raises(InputError, match="not a readable audio file"):
        mux(bunny, broken, tmp_path / "out.mp4")
    with pytest.raises(InputError, match="no audio stream"):
        mux(bunny, _video_only(tmp_path), tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


def _video_only(folder: Path) -> Path:
    """An mkv with a picture and no sound, passed where a WAV is expected."""
    path = folder / "silent.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_refuses_to_overwrite_input(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    src = make_video("mux_self.mp4", np.zeros((3, 16, 16, 3), np.uint8))
    wav = _wav(tmp_path / "a.wav", 0.1)
    for out in (src, wav):
        with pytest.raises(InputError, match="overwrite"):
            mux(src, wav, out)
    with pytest.raises(InputError, match="unsupported output"):
        mux(src, wav, tmp_path / "out.gif")
    with pytest.raises(InputError, match="not found"):
        mux(src, tmp_path / "missing.wav", tmp_path / "out.mp4")
