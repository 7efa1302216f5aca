"""Put a soundtrack (WAV) into the original video with the ffmpeg binary of imageio-ffmpeg.

The picture is copied untouched when the output container can hold its codec, otherwise
re-encoded with libx264 (yuv420p, even size). The original audio is dropped. The new audio
is resampled to 48 kHz stereo, padded with silence or trimmed to exactly the target length
in samples (``apad`` + ``atrim=end_sample``, so the result does not depend on ``-shortest``
heuristics) and encoded as AAC 192 kbps. Outputs: .mp4 / .m4v / .mov / .mkv.

The output appears atomically: ffmpeg writes a hidden temporary file next to the
destination, which replaces it only on success; on failure it is removed.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import av
import imageio_ffmpeg

from soundtrack.config import MIX
from soundtrack.errors import InputError
from soundtrack.video.decode import probe


def mux(
    video_path: str | Path,
    wav_path: str | Path,
    out_path: str | Path,
    *,
    duration_s: float | None = None,
) -> Path:
    """Write `out_path`: the picture of `video_path` with the audio of `wav_path`.

    The audio lasts exactly `duration_s` (default: the video's duration from `probe`);
    a shorter `duration_s` also cuts the picture. Returns the output path.
    """
    # 1. Check inputs.
    # Absolute paths: FFmpeg reads a relative name like 'pipe:1.mp4' or 'data:...' as a protocol
    video, wav, out = (Path(p).absolute() for p in (video_path, wav_path, out_path))
    info = probe(video)
    _check_audio(wav)
    for source in (video, wav):
        if out.resolve() == source.resolve():
            raise InputError(f"the output would overwrite its input: {out}")
    if not out.parent.is_dir():
        raise InputError(f"output folder does not exist: {out.parent}")
    container = out.suffix.lower().lstrip(".")
    if container not in ("mp4", "m4v", "mov", "mkv"):
        raise InputError(f"unsupported output format {out.suffix!r}: use .mp4, .mov or .mkv")
    duration = info.duration_s if duration_s is None else float(duration_s)
    if not 0 < duration <= info.duration_s + 1e-3:
        raise InputError(f"duration {duration:g} s is outside the video's 0..{info.duration_s:g} s")
    cut_video = duration < info.duration_s - 1e-3

    # 2. Mux, copying the picture when the container accepts its codec, else re-encoding.
    copy = _can_copy(info.video_codec, container)
    try:
        return _run(video, wav, out, duration=duration, cut_video=cut_video, copy_video=copy)
    except InputError:
        if not copy:
            raise
        # The container refused the copied stream after all (odd bitstream): re-encode.
        return _run(video, wav, out, duration=duration, cut_video=cut_video, copy_video=False)


def _check_audio(wav: Path) -> None:
    """The soundtrack must be a readable file with an audio stream."""
    if not wav.is_file():
        raise InputError(f"audio file not found: {wav}")
    try:
        with av.open(str(wav)) as container:
            has_audio = len(container.streams.audio) > 0
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        raise InputError(f"{wav.name} is not a readable audio file") from None
    if not has_audio:
        raise InputError(f"{wav.name} has no audio stream")


def _can_copy(codec: str, container: str) -> bool:
    """Whether `container` is known to hold a stream-copied `codec` in a playable way."""
    accepted = {
        "mp4": ("h264", "hevc", "av1", "mpeg4", "vp9"),
        "m4v": ("h264", "hevc", "av1", "mpeg4", "vp9"),
        "mov": ("h264", "hevc", "mpeg4", "mjpeg", "prores"),
    }
    return container == "mkv" or codec in accepted[container]


def _run(
    video: Path, wav: Path, out: Path, *, duration: float, cut_video: bool, copy_video: bool
) -> Path:
    """One ffmpeg run into a temporary file beside `out`, then an atomic rename."""
    rate = MIX.sample_rate
    n_samples = round(duration * rate)
    fmt = out.suffix.lower().lstrip(".")
    args = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-i", str(video),
        "-i", str(wav),
        "-map", "0:v:0", "-map", "1:a:0",
    ]  # fmt: skip
    if copy_video:
        args += ["-c:v", "copy"]
    else:
        args += [
            "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p",
            "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",
        ]  # fmt: skip
    if cut_video:
        args += ["-t", f"{duration:.6f}"]
    args += [
        # Exactly n_samples at 48 kHz: resample, pad with silence, then cut.
        "-af", f"aresample={rate},apad=whole_len={n_samples},atrim=end_sample={n_samples}",
        "-ar", str(rate), "-ac", "2",
        "-c:a", "aac", "-b:a", "192k",
    ]  # fmt: skip
    if fmt in ("mp4", "m4v", "mov"):
        args += ["-movflags", "+faststart"]  # index first: playable while downloading

    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o644)  # mkstemp's 0600 would carry over to the output
    try:
        result = subprocess.run([*args, str(tmp)], capture_output=True, text=True, errors="replace")
        if result.returncode != 0:
            lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
            reason = lines[-1] if lines else f"ffmpeg exited with code {result.returncode}"
            raise InputError(f"could not write {out.name}: {reason}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
