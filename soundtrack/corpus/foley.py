"""Sound effects: real recordings from Debian packages plus procedural Foley synthesis.

Every effect starts at sample 0 with a sharp attack (recordings are trimmed to their first
onset), so placing it at an event's time puts its audible onset exactly there. Effects
are cut to at most `MAX_EFFECT_S` with a fade, so neighbouring events stay separable.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

from soundtrack.config import AUDIO

MAX_EFFECT_S = 0.6
EVENT_TYPES = ("impact", "whoosh", "flash", "cut")

FREECIV = Path("/usr/share/games/freeciv/stdsounds")
FROZEN = Path("/usr/share/games/frozen-bubble/snd")
FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")
# Curated recordings with one clear onset each (tests/data/test_foley.py checks this).
# (event type, path, Debian package, licence)
RECORDINGS: tuple[tuple[str, Path, str, str], ...] = (
    ("impact", FREECIV / "wall01.ogg", "freeciv-data", "GPL-2+"),
    ("impact", FREECIV / "woodbrk.ogg", "freeciv-data", "GPL-2+"),
    ("impact", FREECIV / "metbrk.ogg", "freeciv-data", "GPL-2+"),
    ("impact", FREECIV / "foot3.ogg", "freeciv-data", "GPL-2+"),
    ("impact", FREECIV / "MedCan.ogg", "freeciv-data", "GPL-2+"),
    ("impact", FROZEN / "stick.ogg", "frozen-bubble-data", "GPL-2"),
    ("impact", FROZEN / "rebound.ogg", "frozen-bubble-data", "GPL-2"),
    ("flash", FROZEN / "launch.ogg", "frozen-bubble-data", "GPL-2"),
    ("flash", FREEDESKTOP / "message.oga", "sound-theme-freedesktop", "CC-BY-SA-3.0 (Ivica Bukvic)"),
    ("flash", FREEDESKTOP / "bell.oga", "sound-theme-freedesktop", "CC-BY-3.0 (Richard Boulanger et al.)"),
    ("cut", FREECIV / "Mortar.ogg", "freeciv-data", "GPL-2+"),
    ("cut", FREECIV / "SmlExpl.ogg", "freeciv-data", "GPL-2+"),
    ("cut", FREECIV / "LrgExpl.ogg", "freeciv-data", "GPL-2+"),
)


@dataclass(frozen=True)
class Effect:
    name: str  # "recording:<file>" or "synth:<kind>"
    audio: np.ndarray  # (T,) float32 at the model rate, peak 1, onset at sample 0


def available_recordings() -> dict[str, list[Path]]:
    """Recording paths per event type that exist on this machine."""
    out: dict[str, list[Path]] = {t: [] for t in EVENT_TYPES}
    for kind, path, _, _ in RECORDINGS:
        if path.is_file():
            out[kind].append(path)
    return out


@functools.lru_cache(maxsize=64)
def load_recording(path: Path, sr: int = AUDIO.sample_rate) -> np.ndarray:
    """Mono, resampled, trimmed to its first onset, cut to MAX_EFFECT_S, peak-normalised."""
    audio, file_sr = sf.read(path, always_2d=True, dtype="float32")
    mono = audio.mean(axis=1)
    if file_sr != sr:
        mono = soxr.resample(mono, file_sr, sr).astype(np.float32)
    env = np.abs(mono)
    start = int(np.argmax(env > 0.1 * env.max()))
    start = max(0, start - int(0.001 * sr))  # keep 1 ms before the threshold crossing
    return _shape(mono[start:], sr)


def _shape(x: np.ndarray, sr: int) -> np.ndarray:
    """Cut to MAX_EFFECT_S with a 50 ms fade-out; peak-normalise; 1 ms fade-in."""
    x = np.array(x[: int(MAX_EFFECT_S * sr)], np.float32)
    fade = min(len(x), int(0.05 * sr))
    x[len(x) - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    rise = min(len(x), int(0.001 * sr))
    x[:rise] *= np.linspace(0.0, 1.0, rise, dtype=np.float32)
    peak = float(np.abs(x).max())
    return x / peak if peak > 0 else x


def synthesize(kind: str, rng: np.random.Generator, sr: int = AUDIO.sample_rate) -> Effect:
    """Procedural Foley for an event type (all with a sharp attack at sample 0)."""
    t = np.arange(int(MAX_EFFECT_S * sr)) / sr
    noise = rng.standard_normal(len(t))
    if kind == "impact":
        variant = str(rng.choice(("thud", "knock", "clang")))
        if variant == "thud":  # a low body with a falling pitch and a click on top
            f0 = rng.uniform(50, 120)
            phase = 2 * np.pi * np.cumsum(f0 * (1 + 1.5 * np.exp(-t / 0.02))) / sr
            x = np.sin(phase) * np.exp(-t / rng.uniform(0.08, 0.2))
            x += 0.5 * noise * np.exp(-t / 0.008)
        else:  # modal synthesis: damped partials; wood is near-harmonic, metal inharmonic
            ratios = (1.0, 2.01, 3.03, 4.1) if variant == "knock" else (1.0, 2.76, 5.40, 8.93)
            f0 = rng.uniform(300, 900) if variant == "knock" else rng.uniform(250, 600)
            decay = rng.uniform(0.03, 0.1) if variant == "knock" else rng.uniform(0.2, 0.45)
            x = sum(np.sin(2 * np.pi * f0 * r * t + rng.uniform(0, 6.3)) * np.exp(-t * r / decay) / r
                    for r in ratios)
            x += 0.3 * noise * np.exp(-t / 0.004)
    elif kind == "whoosh":  # noise through a band-pass whose centre falls (a Doppler pass)
        variant = "whoosh"
        x = _swept_bandpass(noise, sr, f_start=rng.uniform(2000, 3500), f_end=rng.uniform(300, 700))
        x *= np.minimum(t / 0.012, 1.0) * np.exp(-t / rng.uniform(0.15, 0.3))
    elif kind == "flash":  # a zap: a fast falling chirp over a noise burst
        variant = "zap"
        f = rng.uniform(2500, 4000) * np.exp(-t / 0.06) + 200
        x = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.12)
        x += 0.6 * noise * np.exp(-t / 0.015)
    elif kind == "cut":  # a boom: a low sine and low-passed noise
        variant = "boom"
        b, a = signal.butter(2, rng.uniform(300, 800) / (sr / 2))
        x = signal.lfilter(b, a, noise) * 3.0 + np.sin(2 * np.pi * rng.uniform(40, 65) * t)
        x *= np.exp(-t / rng.uniform(0.15, 0.35))
    else:
        raise ValueError(f"unknown effect kind {kind!r}; known: {EVENT_TYPES}")
    return Effect(f"synth:{variant}", _shape(x.astype(np.float32), sr))


def _swept_bandpass(x: np.ndarray, sr: int, *, f_start: float, f_end: float, block: int = 256) -> np.ndarray:
    """Band-pass with an exponentially swept centre, filter state carried across blocks."""
    out = np.empty_like(x)
    zi = np.zeros(2)
    n_blocks = int(np.ceil(len(x) / block))
    for i in range(n_blocks):
        fc = f_start * (f_end / f_start) ** (i / max(1, n_blocks - 1))
        b, a = signal.iirpeak(fc, Q=2.0, fs=sr)
        seg = slice(i * block, (i + 1) * block)
        out[seg], zi = signal.lfilter(b, a, x[seg], zi=zi)
    return out


def pick_effect(kind: str, rng: np.random.Generator, recordings: dict[str, list[Path]],
                *, sr: int = AUDIO.sample_rate) -> Effect:
    """A recording (half the time, when one exists for `kind`) or a procedural sound."""
    paths = recordings.get(kind, [])
    if paths and rng.random() < 0.5:
        path = paths[int(rng.integers(len(paths)))]
        return Effect(f"recording:{path.name}", load_recording(path, sr))
    return synthesize(kind, rng, sr)
