"""Playable copies of uploads a browser cannot play (soundtrack/studio/preview.py), on a real AVI."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from soundtrack.errors import InputError
from soundtrack.studio.preview import is_playable, playable_copy

ROOT = Path(__file__).resolve().parents[2]


def _avi(out: Path) -> Path:
    """4 s of bikes.mp4 (real footage) as AVI: MPEG-4 part 2 video, MP3 sound."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error",
                    "-i", str(ROOT / "assets" / "bikes.mp4"),
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=4", "-t", "4",
                    "-map", "0:v", "-map", "1:a",
                    "-c:v", "mpeg4", "-q:v", "5", "-c:a", "libmp3lame", str(out)], check=True)
    return out


def test_an_avi_gets_an_h264_copy_of_its_length_made_once(tmp_path: Path) -> None:
    import av

    from soundtrack.video.decode import probe

    avi = _avi(tmp_path / "street.avi")
    assert not is_playable(avi) and is_playable(ROOT / "assets" / "bikes.mp4")
    copy = playable_copy(avi, cache=tmp_path / "cache")
    assert copy.name == "street.mp4" and copy.parent.parent == tmp_path / "cache" and is_playable(copy)
    with av.open(str(copy)) as f:
        assert f.streams.video[0].codec_context.name == "h264"
        assert f.streams.audio[0].codec_context.name == "aac"
    original, shown = probe(avi), probe(copy)
    assert shown.duration_s == pytest.approx(original.duration_s, abs=0.05)
    assert shown.fps == pytest.approx(original.fps, rel=1e-3)
    made = copy.stat().st_mtime_ns
    assert playable_copy(avi, cache=tmp_path / "cache") == copy and copy.stat().st_mtime_ns == made  # cached
    mp4 = ROOT / "assets" / "bikes.mp4"
    assert playable_copy(mp4, cache=tmp_path / "cache") == mp4  # a playable upload is used as it is


def test_a_file_that_is_not_a_video_is_one_clear_line(tmp_path: Path) -> None:
    fake = tmp_path / "notes.avi"
    fake.write_text("this is not a video")
    with pytest.raises(InputError, match="notes.avi"):
        playable_copy(fake, cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
