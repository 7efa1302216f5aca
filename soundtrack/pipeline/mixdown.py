"""From window waves to the deliverable: join the windows, mix the stems, re-mix at a new balance."""
from __future__ import annotations

import dataclasses
import math
import time
from typing import NamedTuple

import numpy as np

from soundtrack.audio.duck import keep_original
from soundtrack.audio.mix import Mix, mix_stems, pan_curve, pan_gains, resample
from soundtrack.config import AUDIO, MIX, TIMING
from soundtrack.pipeline.report import effects_report, loudness, notes
from soundtrack.pipeline.take import Take
from soundtrack.render.effects import Placement, render_effects
from soundtrack.video.features import VisualEvent


def heard_frames(duration_s: float, start_s: float) -> int:
    """Mel frames of a window starting at start_s that the take keeps: the video's end cuts it."""
    frames = math.ceil((duration_s - start_s) * AUDIO.sample_rate / AUDIO.hop_length - 1e-6)
    return max(1, min(TIMING.mel_frames, frames))


def join_windows(waves: list[np.ndarray], n_out: int) -> np.ndarray:
    """Window waves (each 163840 samples, hop 7.68 s) -> one (n_out,) wave.

    Consecutive windows overlap by 2.56 s, whose latent the later window held at the earlier
    one's for the first half of its steps (outpainting, snio.md eqs. 12, 12b), so they agree
    there in what the early steps decide; a linear crossfade over the overlap hides the rest.
    The result is cut (or zero-padded) to exactly n_out samples.
    """
    n_clip = TIMING.clip_samples
    hop = TIMING.hop_frames * TIMING.samples_per_latent_frame  # samples per window hop
    ov = TIMING.overlap_frames * TIMING.samples_per_latent_frame
    total = hop * (len(waves) - 1) + n_clip
    out = np.zeros(max(total, n_out), np.float32)
    fade_in = np.linspace(0.0, 1.0, ov, dtype=np.float32)
    for k, w in enumerate(waves):
        w = w.astype(np.float32).copy()
        assert w.shape == (n_clip,), f"{w.shape=}"
        if k > 0:
            w[:ov] *= fade_in
        if k + 1 < len(waves):
            w[-ov:] *= 1.0 - fade_in
        out[k * hop:k * hop + n_clip] += w
    return np.ascontiguousarray(out[:n_out])


class EffectsStem(NamedTuple):
    """The effects of a take: as delivered at 16 kHz, at 48 kHz when recordings play them, the model's."""

    sfx16: np.ndarray  # (T16,) what the take's effects sound like (the spectrogram, the measures)
    sfx48: np.ndarray | None  # (T48,) the recorded render; None: the model's audio is the stem
    neural16: np.ndarray  # (T16,) the model's own effects
    placements: list[Placement]


def effects_stem(sfx16: np.ndarray, *, events: list[VisualEvent], effects: str) -> EffectsStem:
    """The model's effects (T16,) as the take plays them: `effects` "recorded" (real recordings at
    48 kHz, render/effects.py) or "neural" (the model's audio itself)."""
    if effects == "neural":
        return EffectsStem(sfx16, None, sfx16, [])
    n48 = int(round(len(sfx16) * MIX.sample_rate / AUDIO.sample_rate))
    sfx48, placed = render_effects(sfx16, events=events, n_out=n48)
    down = resample(sfx48.astype(np.float64), sr_in=MIX.sample_rate, sr_out=AUDIO.sample_rate,
                    n_out=len(sfx16)).astype(np.float32)
    return EffectsStem(down, sfx48, sfx16, placed)


def mix_take(music: np.ndarray, sfx16: np.ndarray, *, events: list[VisualEvent], balance: float,
             sfx48: np.ndarray | None = None) -> Mix:
    """The stems mixed at the balance: effects panned by where they happen in the picture,
    loudness and true peak (soundtrack.audio.mix.mix_stems). 48 kHz stereo.

    music: (T16,) the neural engine's mono stem at 16 kHz, or (2, T48) the score engine's
    rendered instruments at 48 kHz. sfx48: (T48,) recorded effects at 48 kHz, mixed instead of
    `sfx16` (T16,) (the music is then brought to 48 kHz and centred here, as mix_stems would)."""
    times, xs = [e.time for e in events], [e.x for e in events]
    if sfx48 is None:
        pan = pan_curve(times, xs, n_samples=len(sfx16), sr=AUDIO.sample_rate)
        return mix_stems(music, sfx16, sr_in=AUDIO.sample_rate, balance=balance, sfx_pan=pan)
    sr, n48 = MIX.sample_rate, len(sfx48)
    if music.ndim == 1:
        centre = np.stack(pan_gains(0.5))[:, None]  # (2, 1)
        music = centre * resample(np.asarray(music, np.float64), sr_in=AUDIO.sample_rate, sr_out=sr, n_out=n48)
    pan = pan_curve(times, xs, n_samples=n48, sr=sr)
    return mix_stems(music, sfx48, sr_in=sr, balance=balance, sfx_pan=pan)


def mix_with_original(mix: Mix, original48: np.ndarray | None, *, original_db: float) -> Mix:
    """`mix`, or with the video's own sound (C, T48) kept under it (audio/duck.py)."""
    return mix if original48 is None else keep_original(mix, original48, original_db=original_db)[0]


def remix(take: Take, balance: float) -> Take:
    """The take's stems mixed again at another balance: a new take in a fraction of a second.

    The mixer meets the slider exactly whenever both stems are audible (docs/DECISIONS.md #18),
    so a balance move needs no new generation (#36). The stems stay those generated for the
    take's own balance, whose SNIO balance term brought the raw stems near that balance;
    generating with the new settings re-optimises them for the new one. The report keeps the
    generation's scores and says where the take came from (`remixed_from_balance`).
    """
    t0 = time.perf_counter()
    settings = dataclasses.replace(take.settings, balance=balance)  # validates the balance
    music = take.music16 if take.music48 is None else take.music48
    mix = mix_take(music, take.sfx16, events=take.events, balance=settings.balance, sfx48=take.sfx48)
    mix = mix_with_original(mix, take.original48, original_db=settings.original_db)
    report = dict(take.report)
    report["settings"] = settings.to_dict()
    report["remixed_from_balance"] = take.report.get("remixed_from_balance", take.settings.balance)
    report["loudness"] = loudness(mix)
    elapsed = time.perf_counter() - t0
    report["timings_s"] = {"mix": elapsed, "total": elapsed}
    report["notes"] = notes(has_events=bool(take.events), balance=settings.balance)
    return dataclasses.replace(take, settings=settings, mix=mix, report=report)


__all__ = ["EffectsStem", "effects_stem", "heard_frames", "join_windows", "mix_take",
           "mix_with_original", "remix"]
