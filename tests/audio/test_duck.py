"""The video's own sound kept under the soundtrack: Big Buck Bunny's real soundtrack as the
original, the soundtrack ducking where it is loud and not where it is quiet, loudness and true
peak held, and one-line refusals of a missing or broken audio track."""
from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from soundtrack.audio.duck import (DEPTH_DB, LOUD_DBFS, QUIET_DBFS, keep_original, load_original,
                                   short_term_db, to_stereo)
from soundtrack.audio.mix import mix_stems
from soundtrack.errors import InputError

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SR = 48_000


@pytest.fixture(scope="module")
def bunny() -> np.ndarray:
    return load_original(ASSETS / "bigbuckbunny.mp4", duration_s=5.28)


def windows_db(x: np.ndarray, starts: np.ndarray, *, size: float = 0.2) -> np.ndarray:
    """RMS in dB of (C, T) over `size` s windows starting at `starts` (s)."""
    return np.array([10 * np.log10(np.mean(x[:, int(t * SR):int((t + size) * SR)] ** 2) + 1e-20) for t in starts])


def test_bunny_sound_is_read_as_stereo_at_48k(bunny):
    assert bunny.shape[0] == 2 and bunny.dtype == np.float32
    assert bunny.shape[1] == pytest.approx(5.28 * SR, abs=0.05 * SR)
    assert np.abs(bunny).max() > 0.01  # a real soundtrack, folded down from 5.1


def test_soundtrack_ducks_where_the_original_is_loud_not_where_quiet(bunny):
    n16 = int(8.28 * 16_000)
    rng = np.random.default_rng(0)
    music = (0.1 * rng.standard_normal(n16)).astype(np.float32)  # a steady soundtrack
    sfx = np.zeros(n16, np.float32)
    mix = mix_stems(music, sfx, sr_in=16_000, balance=0.0)
    original = np.pad(bunny, ((0, 0), (0, mix.mix.shape[1] - bunny.shape[1])))  # bunny, then 3 s of silence
    ducked, orig = keep_original(mix, original)
    # 1. the promises of the mixer still hold, the stems add up, the soundtrack's stems hold no original
    assert ducked.mix_lufs == pytest.approx(-16.0, abs=0.3) and ducked.mix_dbtp <= -1.0 + 1e-3
    assert np.allclose(ducked.music + ducked.sfx + orig, ducked.mix, atol=1e-6)
    assert np.corrcoef(ducked.music[0, :bunny.shape[1]], orig[0, :bunny.shape[1]])[0, 1] < 0.05
    # 2. the soundtrack's gain against the original's level: ducked where loud, not where quiet
    starts = np.arange(0.2, 8.0, 0.2)
    gain = windows_db(ducked.music, starts) - windows_db(mix.music, starts)  # dB, includes the make-up
    level = short_term_db(orig, SR)[(starts * SR + 0.1 * SR).astype(int)]  # the original under each window
    quiet, loud = gain[starts >= 6.5], gain[level > -33]  # the silent tail, 1.2 s after the bunny's end
    assert len(quiet) >= 5 and len(loud) >= 3 and (level[starts >= 6.5] < QUIET_DBFS).all()
    duck = np.median(loud) - np.median(quiet)
    assert -DEPTH_DB - 0.5 < duck < -6.0, (duck, np.median(loud), np.median(quiet))
    assert np.ptp(quiet) < 0.5  # where quiet, the soundtrack is steady


def test_original_level_moves_the_kept_sound(bunny):
    music = (0.1 * np.random.default_rng(1).standard_normal(int(5.28 * 16_000))).astype(np.float32)
    mix = mix_stems(music, np.zeros_like(music), sr_in=16_000, balance=0.0)
    _, at0 = keep_original(mix, bunny, original_db=0.0)
    ducked, at_m12 = keep_original(mix, bunny, original_db=-12.0)
    ratio = 20 * np.log10(np.sqrt(np.mean(at0 ** 2) / np.mean(at_m12 ** 2)))
    assert ratio > 6.0  # 12 dB less, give or take the make-up of the sum
    assert ducked.mix_lufs == pytest.approx(-16.0, abs=0.3) and ducked.mix_dbtp <= -1.0 + 1e-3
    assert LOUD_DBFS > QUIET_DBFS


def test_to_stereo_folds_down_5_1():
    x = np.zeros((6, 10))
    x[2] = 1.0  # centre
    y = to_stereo(x)
    assert y.shape == (2, 10) and np.allclose(y, 10 ** (-3 / 20))
    assert to_stereo(np.ones(5)).shape == (2, 5)
    with pytest.raises(InputError):
        to_stereo(np.zeros((3, 4)))


def test_missing_or_broken_audio_track_is_one_line(tmp_path):
    with pytest.raises(InputError, match="cannot be kept: its audio track is missing") as e:
        load_original(ASSETS / "bikes.mp4", duration_s=10.0)  # no audio track
    assert "\n" not in str(e.value)
    short = tmp_path / "short.mp4"  # a 4 s video whose sound stops after 1 s
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=128x96:rate=25:duration=4", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-c:v", "libx264", "-c:a", "aac", "-pix_fmt", "yuv420p", str(short)], check=True)
    with pytest.raises(InputError, match=r"its audio track is broken \(1\.0 s of 4\.0 s decoded\)"):
        load_original(short, duration_s=4.0)
