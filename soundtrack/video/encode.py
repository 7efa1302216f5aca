"""Encode RGB frames to an H.264 mp4 with the ffmpeg binary that imageio-ffmpeg ships."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def write_video(frames: Iterable[np.ndarray], path: str | os.PathLike, *, fps: float,
                crf: int = 23, threads: int = 1) -> Path:
    """Pipe uint8 `(H, W, 3)` RGB frames into libx264 (yuv420p, even sizes).

    Written to a temporary name beside `path` and renamed when ffmpeg succeeds, so a
    failure never leaves a half-written file.
    """
    import imageio_ffmpeg

    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    it = iter(frames)
    first = next(it)
    h, w = first.shape[:2]
    assert first.ndim == 3 and first.shape[2] == 3 and h % 2 == 0 and w % 2 == 0, f"{first.shape=}"
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-",
           "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
           "-threads", str(threads), "-movflags", "+faststart", "-f", "mp4", os.fspath(tmp)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdin is not None
        proc.stdin.write(np.ascontiguousarray(first, np.uint8).tobytes())
        for frame in it:
            assert frame.shape == first.shape, f"{frame.shape=} {first.shape=}"
            proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {path.name}: {err.strip().splitlines()[-1:]}")
        os.replace(tmp, path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tmp.unlink(missing_ok=True)
    return path
