"""The video's own sound kept under the soundtrack: a sidechain duck, then loudness and true peak.

    mix, original = keep_original(mix, original48, original_db=0.0)   # 48 kHz stereo, all (2, T)

1. the original at its own level plus `original_db`;
2. its short-term level L(t): the RMS over 400 ms (the BS.1770 block) every 10 ms, in dBFS;
3. the soundtrack's gain, in dB: 0 where L <= QUIET_DBFS, -DEPTH_DB where L >= LOUD_DBFS, linear
   in between, smoothed with a 20 ms attack and a 300 ms release (it comes down before the
   sound does and recovers slowly, as a broadcast ducker);
4. music and effects times that gain, plus the original: the mix, normalised to the mixer's
   target loudness and true-peak limited with one gain shared by the three stems
   (audio/mix.limiter_gain), so the stems still add up to the mix and each respects the ceiling.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from soundtrack.audio.mix import Mix, limiter_gain, loudness_lufs, true_peak_dbtp
from soundtrack.config import MIX, MixConfig
from soundtrack.errors import InputError

ORIGINAL_MODES = ("replace", "keep")  # the video's own sound: dropped, or kept under the soundtrack
ORIGINAL_DB_RANGE = (-30.0, 12.0)
QUIET_DBFS = -45.0  # the original this quiet or quieter: the soundtrack is not ducked
LOUD_DBFS = -25.0  # this loud or louder: ducked by DEPTH_DB
DEPTH_DB = 12.0
BLOCK_S, HOP_S = 0.4, 0.01
ATTACK_S, RELEASE_S = 0.02, 0.3
_PASSES = 4
_MARGIN_DB = 2e-3


def check_original(original: object) -> str:
    """`original` if it is one of ORIGINAL_MODES, else a one-line InputError."""
    if original not in ORIGINAL_MODES:
        raise InputError(f"original must be one of {', '.join(ORIGINAL_MODES)}, got {original!r}")
    return str(original)


def load_original(video: Path | str, *, duration_s: float, sr: int = MIX.sample_rate) -> np.ndarray:
    """The video's own sound (2, T) float32 at `sr` (to_stereo), or a one-line InputError when its
    audio track is missing, undecodable or covers less than half of the video (a broken track)."""
    from soundtrack.audio.io import load_audio

    name = Path(video).name
    hint = "choose original 'replace' to drop it"
    try:
        audio = load_audio(video, sr=sr, mono=False)  # (C, T)
    except InputError:
        raise InputError(f"{name}: the video's own sound cannot be kept: its audio track is missing or "
                         f"cannot be decoded; {hint}") from None
    if audio.shape[1] < 0.5 * duration_s * sr or not np.isfinite(audio).all():
        raise InputError(f"{name}: the video's own sound cannot be kept: its audio track is broken "
                         f"({audio.shape[1] / sr:.1f} s of {duration_s:.1f} s decoded); {hint}")
    return to_stereo(audio).astype(np.float32)


def to_stereo(x: np.ndarray) -> np.ndarray:
    """(C, T) -> (2, T): mono doubled, stereo kept, 5.1 (FL FR FC LFE BL BR) folded down (ITU -3 dB)."""
    x = np.asarray(x, np.float64)
    if x.ndim == 1 or x.shape[0] == 1:
        return np.repeat(x.reshape(1, -1), 2, axis=0)
    if x.shape[0] == 2:
        return x
    if x.shape[0] < 6:
        raise InputError(f"the video's sound has {x.shape[0]} channels; mono, stereo or 5.1 can be kept")
    c = 10 ** (-3 / 20)
    return np.stack([x[0] + c * x[2] + c * x[4], x[1] + c * x[2] + c * x[5]])


def short_term_db(x: np.ndarray, sr: int) -> np.ndarray:
    """(2, T) -> (T,) the RMS over BLOCK_S centred on each sample (computed every HOP_S), dBFS."""
    power = np.mean(np.asarray(x, np.float64) ** 2, axis=0)  # (T,)
    n, block, hop = len(power), int(BLOCK_S * sr), int(HOP_S * sr)
    sums = np.concatenate([[0.0], np.cumsum(power)])
    centres = np.arange(0, n, hop)  # (F,)
    lo, hi = np.clip(centres - block // 2, 0, n), np.clip(centres + block // 2, 0, n)
    ms = (sums[hi] - sums[lo]) / np.maximum(hi - lo, 1)  # (F,)
    db = 10 * np.log10(np.maximum(ms, 1e-12))
    return np.interp(np.arange(n), centres, db)  # (T,)


def duck_gain_db(original: np.ndarray, sr: int) -> np.ndarray:
    """(2, T) the kept original -> (T,) the soundtrack's gain in dB (<= 0), steps 2-3."""
    level = short_term_db(original, sr)[::int(HOP_S * sr)]  # (F,) one per hop
    target = -DEPTH_DB * np.clip((level - QUIET_DBFS) / (LOUD_DBFS - QUIET_DBFS), 0.0, 1.0)  # (F,)
    a_att, a_rel = math.exp(-HOP_S / ATTACK_S), math.exp(-HOP_S / RELEASE_S)
    smooth = np.empty_like(target)
    g = 0.0
    # look ahead by one attack time, so the soundtrack is down when the sound starts
    ahead = int(round(ATTACK_S / HOP_S))
    lead = np.concatenate([target[ahead:], np.full(ahead, target[-1])]) if len(target) > ahead else target
    for k, t in enumerate(np.minimum(target, lead)):
        a = a_att if t < g else a_rel
        g = a * g + (1 - a) * t
        smooth[k] = g
    n = original.shape[1]
    return np.interp(np.arange(n), np.arange(len(smooth)) * int(HOP_S * sr), smooth)  # (T,)


def keep_original(mix: Mix, original: np.ndarray, *, original_db: float = 0.0,
                  cfg: MixConfig = MIX) -> tuple[Mix, np.ndarray]:
    """The soundtrack `mix` ducked under the video's own sound `original` ((C, T) at mix.sr, any
    length: cut or padded to the mix's): (the new Mix, whose mix is music + sfx + original, and the
    original stem (2, T) float32 as mixed). Loudness cfg.target_lufs, true peak <= cfg.true_peak_dbtp."""
    sr, n = mix.sr, mix.mix.shape[1]
    orig = to_stereo(original)[:, :n]
    orig = np.pad(orig, ((0, 0), (0, n - orig.shape[1]))) * 10 ** (original_db / 20)  # (2, T), step 1
    if not np.isfinite(orig).all():
        raise InputError("the video's sound has non-finite samples")
    duck = 10 ** (duck_gain_db(orig, sr) / 20)  # (T,)
    stems = [mix.music * duck, mix.sfx * duck, orig]  # (2, T) each, step 4
    total = loudness_lufs(sum(stems), sr)
    makeup = 0.0 if not math.isfinite(total) else cfg.target_lufs - total
    best = None
    for _ in range(_PASSES):
        scaled = [s * 10 ** (makeup / 20) for s in stems]
        watched = np.concatenate(scaled + [sum(scaled)])  # (8, T)
        gain = limiter_gain(watched, sr, ceiling_db=cfg.true_peak_dbtp - _MARGIN_DB)  # (T,)
        out = [s * gain for s in scaled]
        over = max(true_peak_dbtp(np.concatenate(out + [sum(out)]), sr) - (cfg.true_peak_dbtp - _MARGIN_DB), 0)
        out = [s * 10 ** (-over / 20) for s in out]
        err = loudness_lufs(sum(out), sr) - cfg.target_lufs
        if best is None or abs(err) < best[0]:
            best = (abs(err), out)
        if not math.isfinite(err) or abs(err) < 0.1:
            break
        makeup -= err
    music, sfx, orig_out = (np.asarray(s, np.float32) for s in best[1])
    mixed = music + sfx + orig_out
    new = dataclasses.replace(
        mix, music=music, sfx=sfx, mix=mixed, music_lufs=loudness_lufs(music, sr), sfx_lufs=loudness_lufs(sfx, sr),
        mix_lufs=loudness_lufs(mixed, sr), music_dbtp=true_peak_dbtp(music, sr), sfx_dbtp=true_peak_dbtp(sfx, sr),
        mix_dbtp=true_peak_dbtp(mixed, sr))
    return new, orig_out


__all__ = ["DEPTH_DB", "LOUD_DBFS", "ORIGINAL_DB_RANGE", "ORIGINAL_MODES", "QUIET_DBFS", "check_original",
           "duck_gain_db", "keep_original", "load_original", "short_term_db", "to_stereo"]
