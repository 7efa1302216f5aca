"""Browser-playable stand-ins for uploads: an AVI, an MKV, or any video a browser cannot play.

    shown = playable_copy(Path("street.avi"), cache=state.takes_dir / "previews")
    # .../previews/<hash of the file>/street.mp4: H.264 (yuv420p) + AAC, made once per upload

A browser plays only some containers and codecs (MP4/WebM with H.264, VP8/9 or AV1 in
4:2:0), so an upload that is anything else showed "Video not playable" although the studio
could score it. The studio shows, scores and muxes the copy instead: what the person sees
is what the soundtrack is made for, and the take's mp4 copies its H.264 picture, so it plays
too. The copy keeps the name (with .mp4), the frame rate, the length and the sound.
Copies are cached by the upload's content (the same file uploaded twice is transcoded
once); the newest `KEEP` stay.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from soundtrack.errors import InputError, readable_file

CONTAINERS = {"mp4", "m4v", "mov", "webm"}  # by file suffix
VIDEO_CODECS = {"h264", "vp8", "vp9", "av1"}
PIXEL_FORMATS = {"yuv420p", "yuvj420p"}  # 4:2:0, 8 bit: 10-bit or 4:4:4 H.264 does not play in Chrome
AUDIO_CODECS = {"aac", "mp3", "opus", "vorbis", "flac"}
KEEP = 16  # cached copies
FFMPEG_THREADS = 2


def is_playable(path: Path | str) -> bool:
    """Whether a browser plays this file as it is (container, video codec, pixel format, sound)."""
    import av

    path = Path(path)
    if path.suffix.lower().lstrip(".") not in CONTAINERS:
        return False
    try:
        with av.open(str(path)) as f:
            if not f.streams.video:
                return False
            v = f.streams.video[0].codec_context
            audio_ok = all(a.codec_context.name in AUDIO_CODECS for a in f.streams.audio)
            return v.name in VIDEO_CODECS and (v.pix_fmt or "") in PIXEL_FORMATS and audio_ok
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return False


def content_key(path: Path, chunk: int = 1 << 20) -> str:
    """A short hash of the file's bytes (and size): the cache key of its copy."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]


def playable_copy(video: Path | str, *, cache: Path) -> Path:
    """`video` itself if a browser plays it, else its H.264/AAC mp4 copy in `cache` (made once).

    A file that is not a video raises a one-line InputError (soundtrack.video.decode.probe).
    """
    from soundtrack.video.decode import probe

    # 1. Check the input; a playable one is used as it is
    video = readable_file(video, kind="video")
    probe(video)
    if is_playable(video):
        return video
    # 2. The cached copy, if this content was seen before
    out = cache / content_key(video) / f"{video.stem}.mp4"
    if out.is_file():
        os.utime(out.parent)  # kept as recently used
        return out
    # 3. Transcode into a temporary file beside it, then move it in (atomic)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".preview-", suffix=".mp4", dir=out.parent)
    os.close(fd)
    try:
        _transcode(video, Path(tmp))
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    _prune(cache)
    return out


def _transcode(src: Path, dst: Path) -> None:
    """H.264 (yuv420p, even size, every frame at the source's constant rate) + AAC stereo, index first."""
    import imageio_ffmpeg

    args = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-i", str(src), "-map", "0:v:0", "-map", "0:a:0?", "-fps_mode", "cfr",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
            "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-threads", str(FFMPEG_THREADS),
            "-c:a", "aac", "-b:a", "160k", "-ac", "2",
            "-movflags", "+faststart", str(dst)]
    result = subprocess.run(args, capture_output=True, text=True, errors="replace")
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        raise InputError(f"could not make a playable copy of {src.name}: "
                         f"{lines[-1] if lines else f'ffmpeg exited with code {result.returncode}'}")


def _prune(cache: Path) -> None:
    """Keep the KEEP most recently used copies."""
    folders = sorted((p for p in cache.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in folders[:max(0, len(folders) - KEEP)]:
        shutil.rmtree(old, ignore_errors=True)


__all__ = ["is_playable", "playable_copy"]
