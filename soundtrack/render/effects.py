"""The generated effects played by real recordings: the model's effects stem -> 48 kHz mono.

The model decides where an effect happens, how loud it is and how long it rings; a recording
from the bundled library (assets/effects/, index.json: kind, source package, licence) plays it:

1. onsets: librosa's onset detector on the generated stem (audio/onsets.py), onsets closer
   than MERGE_S merged (one generated burst often fires twice);
2. follow the picture: an onset within SNAP_S of a picture event (cut, flash, impact) is moved
   to the event's time (the model's timing is that event; the picture says exactly when);
3. measure the generated effect from its onset to the next (at most SEGMENT_S): its level
   (peak of a 10 ms RMS) and its decay (from that peak until it is 20 dB lower);
4. choose the recording: its kind is the picture event's at that time (the picture says what
   happened: impact, flash or cut); an onset with no event nearby takes the kind of the
   library recording nearest in decay. Within the kind, the recording whose own decay is
   nearest the generated one's, not the one played just before for that kind when the kind
   has another (a row of bounces is not one sample repeated). The generated spectrum is not
   matched: it is the broadband hiss this stage replaces (issue 19: centroid 1.8-3.1 kHz);
5. play it: scaled to the generated level, held through the generated decay then falling
   26 dB per further decay time, cut with a 10 ms fade at the next onset, its audible onset
   (1 ms into each file) on the onset's sample.

Panning stays where it was: the mixer's pan curve follows the picture events' x
(pipeline/mixdown.mix_take).

    sfx48, placed = render_effects(sfx16, events=plan.events, n_out=len(music48[0]))
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from soundtrack.audio.onsets import effect_onsets
from soundtrack.config import AUDIO, MIX
from soundtrack.errors import InputError

LIBRARY_DIR = Path(__file__).resolve().parents[2] / "assets" / "effects"
EFFECTS_MODES = ("recorded", "neural")  # the effects stem: real recordings, or the model's own audio
MERGE_S = 0.08  # generated onsets closer than this are one effect
SNAP_S = 0.1  # an onset this close to a picture event lands on the event
SEGMENT_S = 0.6  # the longest generated effect measured
DECAY_DB = 20.0  # the decay time: from the level's peak until this many dB lower
ONSET_LEAD_S = 0.001  # each library file's audible onset (scripts/make_effects_library.py)
FADE_S = 0.01
RMS_S = 0.01


@dataclass(frozen=True, eq=False)
class Recording:
    """One library file: (T,) float32 mono at 48 kHz, peak -1 dBFS, audible onset at 1 ms."""

    name: str
    kind: str  # "impact", "flash" or "cut"
    audio: np.ndarray
    decay_s: float
    licence: str


@dataclass(frozen=True)
class Placement:
    """One effect played: where, which recording, at what gain and decay."""

    time_s: float  # the onset in the take (video time)
    kind: str
    recording: str
    gain: float  # amplitude applied to the (peak -1 dBFS) recording
    decay_s: float  # the generated effect's decay
    snapped: bool  # moved onto a picture event


def envelope_db(x: np.ndarray, sr: int) -> np.ndarray:
    """(T,) -> (frames,) the 10 ms RMS level in dB (hop 5 ms), floored at -120 dB."""
    win = max(1, int(RMS_S * sr))
    hop = max(1, win // 2)
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), win)[::hop]  # (F, win)
    return 10 * np.log10(np.maximum(np.mean(frames ** 2, axis=1), 1e-12))


def level_and_decay(x: np.ndarray, sr: int) -> tuple[float, float]:
    """(peak 10 ms RMS as amplitude, seconds from that peak until DECAY_DB lower) of a (T,) segment."""
    env = envelope_db(x, sr)  # (F,)
    k = int(np.argmax(env))
    below = np.flatnonzero(env[k:] < env[k] - DECAY_DB)
    frames = below[0] if len(below) else len(env) - k
    hop_s = max(1, int(RMS_S * sr) // 2) / sr
    return float(10 ** (env[k] / 20)), float(max(frames, 1) * hop_s)


@functools.lru_cache(maxsize=4)
def load_library(folder: Path = LIBRARY_DIR) -> tuple[Recording, ...]:
    """The recordings of `folder` (its index.json), decoded once per process."""
    import soundfile as sf

    index = folder / "index.json"
    try:
        doc = json.loads(index.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"no effects library at {folder} ({e.__class__.__name__}); use --effects neural") from None
    out = []
    for entry in doc["recordings"]:
        audio, sr = sf.read(folder / entry["file"], dtype="float32")  # (T,)
        assert audio.ndim == 1 and sr == MIX.sample_rate, f"{entry['file']}: {audio.shape=} {sr=}"
        _, decay = level_and_decay(audio, sr)
        out.append(Recording(name=entry["file"], kind=entry["kind"], audio=audio, decay_s=decay,
                             licence=entry["licence"]))
    return tuple(out)


def generated_onsets(sfx16: np.ndarray, *, sr: int = AUDIO.sample_rate) -> np.ndarray:
    """(N,) seconds: the generated stem's onsets, those closer than MERGE_S merged."""
    if not np.any(sfx16):
        return np.zeros(0)
    kept: list[float] = []
    for t in effect_onsets(np.asarray(sfx16, np.float32), sr):
        if not kept or t - kept[-1] >= MERGE_S:
            kept.append(float(t))
    return np.asarray(kept)


def choose(library: Sequence[Recording], *, kind: str | None, decay_s: float,
           previous: dict[str, str]) -> Recording:
    """The recording of `kind` (None: any kind) nearest in log decay, avoiding the kind's previous pick."""
    pool = [r for r in library if kind is None or r.kind == kind] or list(library)
    ranked = sorted(pool, key=lambda r: (abs(np.log(r.decay_s / decay_s)), r.name))
    if len(ranked) > 1 and ranked[0].name == previous.get(ranked[0].kind):
        return ranked[1]
    return ranked[0]


def plan_effects(sfx16: np.ndarray, *, event_times: Sequence[float], event_kinds: Sequence[str],
                 library: Sequence[Recording], sr: int = AUDIO.sample_rate,
                 snap: bool = True) -> list[Placement]:
    """Steps 1-4 of the module docstring: one Placement per generated effect, in time order
    (`snap` False: at the generated onsets as they are, for the evaluation's comparison)."""
    ev_t = np.asarray(event_times, float)  # (E,)
    onsets = generated_onsets(sfx16, sr=sr)  # (N,)
    placed: list[Placement] = []
    previous: dict[str, str] = {}
    for i, t in enumerate(onsets):
        end = onsets[i + 1] if i + 1 < len(onsets) else t + SEGMENT_S
        seg = sfx16[int(t * sr):int(min(end, t + SEGMENT_S) * sr)]
        if len(seg) < int(RMS_S * sr):
            continue
        level, decay = level_and_decay(seg, sr)
        near = int(np.argmin(np.abs(ev_t - t))) if len(ev_t) else -1
        on_event = near >= 0 and abs(ev_t[near] - t) <= SNAP_S
        kind = event_kinds[near] if on_event else None
        snapped = on_event and snap
        time_s = float(ev_t[near]) if snapped else float(t)
        if placed and abs(time_s - placed[-1].time_s) < MERGE_S:
            continue  # two generated onsets snapped onto one event: one effect
        rec = choose(library, kind=kind, decay_s=decay, previous=previous)
        previous[rec.kind] = rec.name
        rec_level, _ = level_and_decay(rec.audio, MIX.sample_rate)
        placed.append(Placement(time_s=time_s, kind=rec.kind, recording=rec.name, gain=level / rec_level,
                                decay_s=decay, snapped=bool(snapped)))
    return placed


def play(placed: Sequence[Placement], library: Sequence[Recording], *, n_out: int,
         sr: int = MIX.sample_rate) -> np.ndarray:
    """Step 5: the placements played into a (n_out,) float32 stem at `sr`."""
    by_name = {r.name: r for r in library}
    out = np.zeros(n_out, np.float64)
    lead = int(round(ONSET_LEAD_S * sr))
    fade = int(FADE_S * sr)
    for k, p in enumerate(placed):
        audio = by_name[p.recording].audio.astype(np.float64)
        start = int(round(p.time_s * sr)) - lead
        stop = int(round(placed[k + 1].time_s * sr)) - lead if k + 1 < len(placed) else start + len(audio)
        x = audio[:max(0, min(len(audio), stop - start))].copy()
        if not len(x):
            continue
        t = np.arange(len(x)) / sr - ONSET_LEAD_S
        hold = max(p.decay_s, 0.02)
        # held through the generated decay, then -26 dB (a factor e^-3) per further decay time
        x *= np.exp(-3.0 * np.maximum(t - hold, 0.0) / hold)
        f = min(fade, len(x))
        x[len(x) - f:] *= np.linspace(1.0, 0.0, f)
        lo, hi = max(start, 0), min(start + len(x), n_out)
        if hi > lo:
            out[lo:hi] += p.gain * x[lo - start:hi - start]
    return out.astype(np.float32)


def render_effects(sfx16: np.ndarray, *, events: Sequence, n_out: int, library: Sequence[Recording] | None = None,
                   snap: bool = True) -> tuple[np.ndarray, list[Placement]]:
    """The generated effects stem (T16,) at 16 kHz, played by recordings: ((n_out,) float32 at
    48 kHz, the placements). `events`: the picture's VisualEvents (time, type)."""
    lib = load_library() if library is None else library
    sfx16 = np.asarray(sfx16, np.float32)
    assert sfx16.ndim == 1, f"{sfx16.shape=}"
    placed = plan_effects(sfx16, event_times=[e.time for e in events], event_kinds=[e.type for e in events],
                          library=lib, snap=snap)
    return play(placed, lib, n_out=n_out), placed


def check_effects(effects: object) -> str:
    """`effects` if it names a mode of EFFECTS_MODES, else a one-line InputError."""
    if effects not in EFFECTS_MODES:
        raise InputError(f"effects must be one of {', '.join(EFFECTS_MODES)}, got {effects!r}")
    return str(effects)


__all__ = ["EFFECTS_MODES", "LIBRARY_DIR", "Placement", "Recording", "check_effects", "choose",
           "generated_onsets", "level_and_decay", "load_library", "play", "plan_effects", "render_effects"]
