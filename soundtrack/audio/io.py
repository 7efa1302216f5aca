"""Audio file I/O: load anything to float32 at a chosen rate, write WAV atomically.

Arrays are channel-first: ``(T,)`` mono or ``(C, T)``. soundfile and soxr want
frames-first ``(T, C)``; the transposes live here and nowhere else.
"""
from __future__ import annotations

import math
import os
import uuid
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from soundtrack.config import AUDIO
from soundtrack.errors import InputError, readable_file


def load_audio(
    path: str | os.PathLike[str],
    *,
    sr: int = AUDIO.sample_rate,
    mono: bool = True,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Read an audio file (or a video's first audio track) as float32 at rate ``sr``.

    Returns ``(T,)`` when ``mono`` (channels averaged), else ``(C, T)``. soundfile reads
    WAV/FLAC/OGG/MP3; anything it cannot open (MP4/AAC, ...) is decoded with PyAV. The
    rate is converted with soxr ("HQ"). ``max_seconds`` keeps only the beginning.

    Raises :class:`InputError` (one line) for a missing, empty or undecodable file.
    """
    assert sr > 0, f"{sr=}"
    assert max_seconds is None or max_seconds > 0, f"{max_seconds=}"
    path = readable_file(path, kind="audio")

    try:
        frames, file_sr = _read_soundfile(path, max_seconds=max_seconds)  # (T, C)
    except (sf.SoundFileError, RuntimeError):
        frames, file_sr = _read_pyav(path, max_seconds=max_seconds)  # (T, C)
    if frames.shape[0] == 0:
        raise InputError(f"no audio samples in {path}")

    if file_sr != sr:
        frames = soxr.resample(frames, file_sr, sr, quality="HQ")  # (T', C)
    if max_seconds is not None:
        frames = frames[: int(round(max_seconds * sr))]
    audio = np.ascontiguousarray(frames.T, dtype=np.float32)  # (C, T)
    return audio.mean(axis=0) if mono else audio


def write_wav(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    *,
    sr: int,
    subtype: str = "PCM_16",
) -> None:
    """Write ``audio`` ``(T,)`` or ``(C, T)`` (float, clipped to [-1, 1]) as a WAV file.

    Atomic: the data goes to a hidden temporary file next to ``path``, is flushed to
    disk, then renamed over ``path`` (``os.replace``), so readers never see a partial file
    and a failed write leaves ``path`` as it was (the temporary file is removed).
    Non-finite samples raise ``ValueError`` before anything touches the disk; the parent
    directory must already exist (:class:`InputError` otherwise).
    """
    assert sr > 0, f"{sr=}"
    audio = np.asarray(audio)
    assert audio.ndim in (1, 2), f"expected (T,) or (C, T), got {audio.shape=}"
    assert np.issubdtype(audio.dtype, np.floating), f"expected float audio, got {audio.dtype=}"
    if not np.isfinite(audio).all():
        raise ValueError(f"refusing to write non-finite samples to {os.fspath(path)}")
    if not sf.check_format("WAV", subtype):
        raise ValueError(f"WAV cannot hold subtype {subtype!r}")
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"output folder does not exist: {path.parent}")

    if audio.dtype not in (np.float32, np.float64):
        audio = audio.astype(np.float32)  # libsndfile takes only these
    frames = np.clip(np.atleast_2d(audio), -1.0, 1.0).T  # (T, C)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    # O_EXCL: never reuse someone else's file; mode 0o666 lets the umask decide, as for
    # any normally created file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            sf.write(f, frames, sr, subtype=subtype, format="WAV")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_soundfile(path: Path, *, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """Frames ``(T, C)`` float32 and the file's rate, via libsndfile."""
    with sf.SoundFile(path) as f:
        n = f.frames if max_seconds is None else min(f.frames, math.ceil(max_seconds * f.samplerate))
        return f.read(n, dtype="float32", always_2d=True), f.samplerate


def _read_pyav(path: Path, *, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """Frames ``(T, C)`` float32 and the stream's rate from the first audio stream, via FFmpeg."""
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.audio:
                raise InputError(f"no audio track in {path}")
            stream = container.streams.audio[0]
            rate = stream.rate
            limit = None if max_seconds is None else math.ceil(max_seconds * rate)
            to_float = av.AudioResampler(format="fltp")  # planar float32, same layout and rate
            chunks: list[np.ndarray] = []  # each (C, n)
            n_read = 0
            for frame in container.decode(stream):
                for out in to_float.resample(frame):
                    chunks.append(out.to_ndarray())
                    n_read += chunks[-1].shape[1]
                if limit is not None and n_read >= limit:
                    break
            else:
                chunks.extend(out.to_ndarray() for out in to_float.resample(None))
    except av.FFmpegError as e:
        reason = " ".join(str(getattr(e, "strerror", None) or e).split())  # one line, no path
        raise InputError(f"cannot decode audio from {path}: {reason}") from None
    if not chunks:
        raise InputError(f"no audio samples in {path}")
    audio = np.concatenate(chunks, axis=1)  # (C, T)
    if limit is not None:
        audio = audio[:, :limit]
    return np.ascontiguousarray(audio.T, dtype=np.float32), rate
