"""load_audio / write_wav: round trips, resampling, downmix, clear errors, atomic writes."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from soundtrack.audio.io import load_audio, write_wav
from soundtrack.errors import InputError


def _tone(freq: float, *, sr: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    """(T,) float32 sine."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, sr: int) -> float:
    """Frequency of the largest FFT bin of a (T,) signal."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1.0 / sr)[np.argmax(spectrum)])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_round_trip_pcm16(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.99, 0.99, size=(2, 4000)).astype(np.float32)  # (C, T)
    path = tmp_path / "x.wav"
    write_wav(path, audio, sr=16_000)
    back = load_audio(path, sr=16_000, mono=False)
    assert back.shape == audio.shape and back.dtype == np.float32, f"{back.shape=} {back.dtype=}"
    assert np.abs(back - audio).max() <= 1.0 / 32768
    mono = load_audio(path, sr=16_000)
    assert mono.shape == (4000,)


def test_write_clips_to_unit_range(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    write_wav(path, np.array([2.0, -3.0, 0.5]), sr=16_000, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(path, sr=16_000), np.array([1.0, -1.0, 0.5], np.float32))


def test_resample_48k_to_16k_keeps_1khz(tmp_path: Path) -> None:
    path = tmp_path / "tone48k.wav"
    write_wav(path, _tone(1000.0, sr=48_000, seconds=1.0), sr=48_000)
    y = load_audio(path, sr=16_000)
    assert y.shape == (16_000,), f"{y.shape=}"
    assert abs(_peak_hz(y, 16_000) - 1000.0) <= 1.0
    assert abs(np.abs(y).max() - 0.5) < 0.01


def test_stereo_to_mono_averages(tmp_path: Path) -> None:
    left = _tone(440.0, sr=16_000, seconds=0.5)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), 16_000)  # (T, C)
    y = load_audio(path)
    assert y.shape == left.shape, f"{y.shape=}"
    np.testing.assert_allclose(y, 0.5 * left, atol=1e-4)


def test_max_seconds(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    write_wav(path, _tone(440.0, sr=44_100, seconds=2.0), sr=44_100)
    assert load_audio(path, sr=16_000, max_seconds=0.5).shape == (8_000,)


def _aac_clip(path: Path, *, sr: int = 44_100) -> Path:
    """A 0.5 s stereo 1 kHz tone as AAC in an MP4 container (libsndfile cannot read it)."""
    stereo = np.stack([_tone(1000.0, sr=sr, seconds=0.5)] * 2)  # (2, T)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sr, layout="stereo")
        for start in range(0, stereo.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(stereo[:, start : start + 1024]), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = sr, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def test_mp4_aac_falls_back_to_pyav(tmp_path: Path) -> None:
    path = _aac_clip(tmp_path / "clip.m4a")
    with pytest.raises(sf.SoundFileError):
        sf.info(path)  # the fallback is really exercised
    y = load_audio(path, sr=16_000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 8_000) <= 1_024  # AAC adds encoder priming/padding
    assert abs(_peak_hz(y, 16_000) - 1000.0) <= 2.0


def test_relative_names_ffmpeg_would_read_as_protocols(tmp_path: Path, monkeypatch) -> None:
    """'pipe:1.m4a' relative to the working folder is a file, not FFmpeg's stdin."""
    _aac_clip(tmp_path / "pipe:1.m4a")
    monkeypatch.chdir(tmp_path)
    y = load_audio("pipe:1.m4a", sr=16_000)
    assert abs(_peak_hz(y, 16_000) - 1000.0) <= 2.0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.wav", b"", "empty"),
        ("notes.wav", b"this is a text file, not audio\n" * 20, "cannot decode"),
    ],
)
def test_bad_files_raise_one_line_input_error(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_audio(path)
    assert "\n" not in str(info.value)


def test_missing_file_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_audio(tmp_path / "nope.wav")


def test_atomic_write_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, np.zeros(100), sr=16_000)
    write_wav(path, np.full(50, 0.25), sr=16_000)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    assert load_audio(path, sr=16_000).shape == (50,)


def test_nan_raises_before_touching_disk(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, np.full(100, 0.5), sr=16_000)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="non-finite"):
        write_wav(path, np.array([0.0, np.nan, 0.1]), sr=16_000)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_failed_write_keeps_destination_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, np.full(100, 0.5), sr=16_000)
    before = path.read_bytes()

    def half_write(file: object, data: np.ndarray, *args: object, **kwargs: object) -> None:
        file.write(b"RIFF partial")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(sf, "write", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_wav(path, np.zeros(100), sr=16_000)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_write_requires_existing_parent(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_wav(tmp_path / "missing" / "out.wav", np.zeros(10), sr=16_000)
    assert not (tmp_path / "missing").exists()
