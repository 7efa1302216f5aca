"""Video decoding for analysis: probe a file, then read frames at a fixed rate and size.

Frames are resampled to a fixed analysis rate by sample-and-hold on presentation time
(right for variable-frame-rate video) and downscaled as they come out of the decoder, so a
4K or 8K file never sits whole in memory: one full-resolution frame at a time is converted
to a small RGB image and dropped. Display rotation (phone video) is applied so frames come
out upright.

Rotation: PyAV 18 exposes no getter for a stream's display matrix (only
``VideoStream.set_display_matrix``/``set_display_rotation`` for writing), and its FFmpeg
(libavformat 62) exports no ``rotate`` metadata tag. The decoder does attach the matrix to
every frame as ``AV_FRAME_DATA_DISPLAYMATRIX`` side data, which ``VideoFrame.rotation``
reads: the counter-clockwise angle of ``av_display_rotation_get``. :func:`probe`
therefore decodes the first frame and reads ``frame.rotation`` (with the legacy
clockwise ``rotate`` tag as a fallback). Flips in the matrix are ignored.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.stream
import av.video.frame
import av.video.stream
import numpy as np

from soundtrack.config import VIDEO
from soundtrack.errors import InputError, readable_file


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` learns about a video, before any analysis.

    `width`/`height` are the frame size as displayed: the stored size, swapped for a 90 or
    270 degree display rotation. `rotation` is the counter-clockwise angle (0, 90, 180 or
    270) a player turns the stored picture by. `display_aspect` is displayed width over
    height, including non-square pixels.
    """

    path: Path
    duration_s: float  # from the stream (or container) header, not by counting frames
    fps: float  # average frame rate of the stream
    width: int
    height: int
    rotation: int
    has_audio: bool
    video_codec: str
    n_frames: int  # from the header when it says, else duration_s * fps
    display_aspect: float

    def analysis_size(self, width: int) -> tuple[int, int]:
        """(w, h) of upright analysis frames: w = `width`, h keeps the display aspect
        ratio, rounded to an even number, at least 2 and at most 2 * `width`.

        The cap bounds memory: without it a 16 x 4096 strip (or a header claiming a 1:1000
        pixel aspect) would give 96 x 24576 analysis frames, gigabytes for a few seconds.
        Pictures taller than 1:2 (portrait phone video is 9:16) are squashed vertically.
        """
        assert width >= 2, f"{width=}"
        height = 2 * round(width / self.display_aspect / 2)
        return width, min(max(2, height), 2 * width)

    def n_analysis_frames(self, fps: float) -> int:
        """Frames sampled at t_k = k / fps for k = 0 .. ceil(duration * fps) - 1 (at least 1)."""
        assert fps > 0, f"{fps=}"
        return max(1, math.ceil(self.duration_s * fps - 1e-6))


@dataclass(frozen=True)
class Frames:
    """Upright RGB frames sampled at a fixed rate: frame k shows time `times[k]` = k / fps."""

    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    times: np.ndarray  # (N,) float64 seconds
    fps: float
    info: VideoInfo

    def __post_init__(self) -> None:
        n = self.frames.shape[0]
        assert self.frames.ndim == 4 and self.frames.shape[3] == 3, f"{self.frames.shape=}"
        assert self.frames.dtype == np.uint8, f"{self.frames.dtype=}"
        assert self.times.shape == (n,), f"{self.times.shape=} {self.frames.shape=}"
        assert n >= 1, f"{self.frames.shape=}"


def probe(path: str | Path, *, max_duration_s: float = VIDEO.max_duration_s) -> VideoInfo:
    """Read a video's header and first frame; raise InputError if it cannot be analysed.

    Rejected with a one-line message: a missing or empty file, a file that is not media
    (text, or a still image renamed .mp4), audio only, no decodable video frame, an MP4
    whose index ('moov' atom) is missing because it was cut short, and a video longer than
    `max_duration_s`.
    """
    path = Path(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        duration = _header_duration(container, stream)
        first = _first_frame(container, stream, path)
        has_audio = len(container.streams.audio) > 0
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        rotation = _rotation(first, stream)
        sar = stream.sample_aspect_ratio
        pixel_aspect = float(sar) if sar else 1.0
        stored_w, stored_h = first.width, first.height
        header_frames = stream.frames
        codec = stream.codec_context.name
    if duration is None:
        duration = _demuxed_duration(path)
    if duration <= 0 and fps > 0:
        duration = 1.0 / fps  # a single still frame with no stated length
    if duration <= 0:
        raise InputError(f"{path.name}: the video has no duration")
    if duration > max_duration_s:
        raise InputError(
            f"{path.name} is {duration:.1f} s long; videos up to {max_duration_s:g} s are supported"
        )

    quarter_turn = rotation in (90, 270)
    width, height = (stored_h, stored_w) if quarter_turn else (stored_w, stored_h)
    aspect = stored_w * pixel_aspect / stored_h
    return VideoInfo(
        path=path,
        duration_s=duration,
        fps=fps,
        width=width,
        height=height,
        rotation=rotation,
        has_audio=has_audio,
        video_codec=codec,
        n_frames=header_frames if header_frames > 0 else max(1, round(duration * fps)),
        display_aspect=1.0 / aspect if quarter_turn else aspect,
    )


def iter_frames(
    path: str | Path,
    *,
    fps: float = VIDEO.analysis_fps,
    width: int = VIDEO.analysis_width,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (t_k, frame) for t_k = k / fps, k = 0 .. ceil(duration * fps) - 1.

    Each frame is the latest decoded frame whose presentation time is <= t_k (the first
    frame for t_k before it), upright, RGB uint8 (h, `width`, 3). Repeated frames are the
    same read-only array.
    """
    info = probe(path)
    yield from _sample(info, fps=fps, width=width)


def read_frames(
    path: str | Path,
    *,
    fps: float = VIDEO.analysis_fps,
    width: int = VIDEO.analysis_width,
) -> Frames:
    """All analysis frames of a video in one array; see :func:`iter_frames`."""
    info = probe(path)
    n = info.n_analysis_frames(fps)
    w, h = info.analysis_size(width)
    frames = np.empty((n, h, w, 3), dtype=np.uint8)  # (N, H, W, 3)
    times = np.empty(n, dtype=np.float64)  # (N,)
    count = 0
    for t, image in _sample(info, fps=fps, width=width):
        frames[count], times[count] = image, t
        count += 1
    assert count == n, f"{count=} {n=}"
    return Frames(frames=frames, times=times, fps=fps, info=info)


def _sample(info: VideoInfo, *, fps: float, width: int) -> Iterator[tuple[float, np.ndarray]]:
    """Sample-and-hold the decoded frames onto the analysis grid k / fps (exact rationals)."""
    n = info.n_analysis_frames(fps)
    w, h = info.analysis_size(width)
    turns = info.rotation // 90
    # Size in stored orientation, so the rotation after scaling lands on (h, w).
    scaled_w, scaled_h = (h, w) if turns % 2 else (w, h)
    rate = Fraction(fps).limit_denominator(1_000_000)
    step = 1.0 / info.fps if info.fps > 0 else 1.0 / fps

    k = 0
    held: np.ndarray | None = None
    with _open(info.path) as container:
        stream = _video_stream(container, info.path)
        stream.thread_type = "AUTO"
        # Each decoding thread holds its own full-resolution frames (~25 MB each at 4K), so
        # a few threads, not one per core: memory stays bounded on many-core machines.
        stream.codec_context.thread_count = min(4, os.cpu_count() or 1)
        origin: int | None = stream.start_time
        last_t = Fraction(0)
        for frame in _decoded(container, stream):
            if frame.pts is None or frame.time_base is None:
                t = last_t + Fraction(step) if held is not None else Fraction(0)
            else:
                if origin is None:
                    origin = frame.pts
                t = (frame.pts - origin) * frame.time_base
            if held is not None and t < last_t:
                continue  # out-of-order timestamp: keep time monotonic
            last_t = t
            first_k = math.ceil(t * rate)  # first grid point at or after this frame's time
            while held is not None and k < min(first_k, n):
                yield k / fps, held
                k += 1
            if k >= n:
                break
            held = _to_rgb(frame, width=scaled_w, height=scaled_h, turns=turns)
    if held is None:
        raise InputError(f"{info.path.name}: no video frame could be decoded")
    while k < n:
        yield k / fps, held
        k += 1


def _to_rgb(frame: av.video.frame.VideoFrame, *, width: int, height: int, turns: int) -> np.ndarray:
    """Scale one decoded frame straight to analysis size (area averaging), then rotate.

    Returns a read-only (H, W, 3) uint8 array; the full-resolution frame is not kept.
    """
    small = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
    rgb = small.to_ndarray()  # (height, width, 3)
    assert rgb.shape == (height, width, 3), f"{rgb.shape=} {width=} {height=}"
    if turns:
        rgb = np.rot90(rgb, k=turns)  # counter-clockwise, as the display matrix says
    rgb = np.ascontiguousarray(rgb)
    rgb.flags.writeable = False
    return rgb


def _decoded(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    *,
    max_packets: int | None = None,
) -> Iterator[av.video.frame.VideoFrame]:
    """Decode `stream` (its first `max_packets` packets), skipping packets the decoder
    rejects (it resumes at the next keyframe) and stopping where the file becomes
    unreadable, so a damaged stretch or a cut-off tail loses only those frames."""
    packets = container.demux(stream)
    count = 0
    while max_packets is None or count < max_packets:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError:
            return  # unreadable from here on: keep what was decoded
        count += 1
        try:
            frames = stream.decode(packet)
        except av.FFmpegError:
            continue
        yield from frames


def _open(path: Path) -> av.container.InputContainer:
    """Open a media file for reading, mapping every failure to a one-line InputError."""
    path = readable_file(path, kind="video")  # absolute: see readable_file
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        if _is_truncated_mp4(path):
            raise InputError(
                f"{path.name} is an incomplete MP4 (no 'moov' index; the file was cut short "
                "while writing or copying)"
            ) from None
        raise InputError(f"{path.name} is not a readable video file") from None
    name = container.format.name
    if name == "image2" or name.endswith("_pipe"):  # single-image demuxers (png_pipe, ...)
        container.close()
        raise InputError(f"{path.name} is a still image, not a video")
    return container


def _video_stream(
    container: av.container.InputContainer, path: Path
) -> av.video.stream.VideoStream:
    """The first real video stream (cover art in audio files does not count)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    if container.streams.audio:
        raise InputError(f"{path.name} has audio but no video stream")
    raise InputError(f"{path.name} has no video stream")


def _first_frame(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    path: Path,
    *,
    max_packets: int = 300,
) -> av.video.frame.VideoFrame:
    """The first decodable frame among the first `max_packets` packets."""
    for frame in _decoded(container, stream, max_packets=max_packets):
        return frame
    raise InputError(f"{path.name}: no video frame could be decoded")


def _header_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    """Video stream duration from the header, else the container's; None if neither says."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _demuxed_duration(path: Path) -> float:
    """Duration from packet timestamps, for streams whose header states none (e.g. raw
    elementary streams). Reads packets only, decodes nothing."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        start: int | None = None
        end = 0
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            start = packet.pts if start is None else min(start, packet.pts)
            end = max(end, packet.pts + (packet.duration or 0))
        if start is None or stream.time_base is None:
            return 0.0
        return float((end - start) * stream.time_base)


def _rotation(frame: av.video.frame.VideoFrame, stream: av.video.stream.VideoStream) -> int:
    """Counter-clockwise display rotation snapped to 0/90/180/270 degrees.

    From the frame's display-matrix side data (``VideoFrame.rotation``); files demuxed by
    an old FFmpeg may carry only the legacy clockwise ``rotate`` tag.
    """
    degrees = float(frame.rotation)
    if degrees == 0.0:
        tag = stream.metadata.get("rotate", "0")
        try:
            degrees = -float(tag)
        except ValueError:
            degrees = 0.0
    return int(round(degrees / 90.0)) % 4 * 90


def _is_truncated_mp4(path: Path) -> bool:
    """True for an ISO-BMFF file ('ftyp' first) whose top-level boxes hold no 'moov'."""
    size = path.stat().st_size
    boxes: list[bytes] = []
    with path.open("rb") as f:
        pos = 0
        while pos + 8 <= size and len(boxes) < 256:
            f.seek(pos)
            header = f.read(16)
            length = int.from_bytes(header[:4], "big")
            if length == 1 and len(header) == 16:
                length = int.from_bytes(header[8:16], "big")
            elif length == 0:
                length = size - pos
            if length < 8:
                break
            boxes.append(header[4:8])
            pos += length
    return bool(boxes) and boxes[0] == b"ftyp" and b"moov" not in boxes
