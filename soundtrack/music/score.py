"""The score engine's notes: a take's music as parts of notes, and the piano roll the model writes.

A :class:`Score` is what the `score` engine makes and what the render stage plays
(soundtrack/render/): one :class:`Part` per instrument family, each with its General MIDI
program, its role (the lane it plays) and its notes in seconds, on a :class:`BeatGrid`, in a
key and mode. The same Score becomes `music.mid` for a DAW.

The model does not write notes directly: it writes a **lane roll** (docs/method/score.md,
eqs. S1-S4), a beat-aware piano roll with the shape of one VAE latent stem, so the joint
UNet denoises it beside the effects latent exactly as it did the music latent:

    R in [-1, 1]^(8 x T x 16)   channel 2l = onsets of lane l, 2l+1 = notes held (l = 0..3)
    lanes: chords, melody, bass (16 scale degrees up from the lane's tonic), drums (16 kit pieces)
    T = latent frames at 25 per second (the effects latent's clock)

Pitches are scale degrees of the take's key and mode, so every note is in the key by
construction (chromatic notes of a source are snapped to the nearest degree). Decoding
quantises onsets and ends to the sixteenths of the beat grid, so the tempo and meter are
exact by construction as well. Which family plays which lane is the orchestration
(:func:`orchestrate`), decided by the musician's instrumentation weights: re-orchestrating a
take re-renders its notes without regenerating them.

numpy only, like the rest of soundtrack/music/.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from soundtrack.config import TIMING
from soundtrack.music.beatgrid import BeatGrid, frame_times
from soundtrack.music.families import FAMILY_NAMES, family
from soundtrack.music.theory import BEATS_PER_BAR, DRUM_CHANNEL, SCALES

LANES = ("chords", "melody", "bass", "drums")  # the roles of families.py, one lane each
ROLL_CHANNELS = 2 * len(LANES)  # onset + hold per lane
ROLL_COLUMNS = TIMING.latent_bins  # 16 scale degrees (pitched lanes) or kit pieces (drums)
# The kit's 16 pieces (GM percussion keys), in roll column order.
DRUM_KEYS = (36, 38, 39, 42, 46, 49, 51, 45, 47, 50, 37, 54, 56, 44, 57, 35)
# The lowest tonic of each pitched lane's 16 degrees is the tonic pitch in [LOW, LOW + 11].
LANE_LOW = {"chords": 45, "melody": 54, "bass": 28}
# GM program (0-based) each family plays in each role: a section for chords, a soloist for
# melody (e.g. strings: String Ensemble 1 / Violin; brass: Brass Section / Trumpet).
PROGRAMS = {
    ("piano", "chords"): 0, ("piano", "melody"): 0, ("mallets", "chords"): 11, ("mallets", "melody"): 12,
    ("organ", "chords"): 16, ("organ", "melody"): 17, ("guitar", "chords"): 24, ("guitar", "melody"): 25,
    ("bass", "bass"): 33, ("strings", "chords"): 48, ("strings", "melody"): 40,
    ("brass", "chords"): 61, ("brass", "melody"): 56, ("woodwinds", "chords"): 71,
    ("woodwinds", "melody"): 73, ("synth", "chords"): 89, ("synth", "melody"): 80,
}
SIXTEENTH = 0.25  # beats
# The most notes a lane sounds at once (eq. S2): the corpus's own ceiling (two chord families of
# three voices; one melody; one bass note; kick, snare or clap, and a cymbal)
POLYPHONY = {"chords": 6, "melody": 1, "bass": 1, "drums": 3}


@dataclass(frozen=True)
class ScoreNote:
    start: float  # seconds from the start of the take
    end: float
    pitch: int  # MIDI key (a GM percussion key in a drum part)
    velocity: int  # 1..127


@dataclass
class Part:
    family: str  # a name of FAMILY_NAMES
    role: str  # the lane it plays: one of LANES
    program: int  # GM program, 0-based; -1 for the drum kit (channel 10)
    notes: list[ScoreNote] = field(default_factory=list)
    gain: float = 1.0  # linear level from the family's instrumentation weight

    @property
    def is_drums(self) -> bool:
        return self.program < 0


@dataclass
class Score:
    grid: BeatGrid
    key: int  # tonic pitch class, 0 = C
    mode: str  # "major" | "minor"
    duration: float  # seconds
    parts: list[Part] = field(default_factory=list)
    lanes: dict[str, list[ScoreNote]] = field(default_factory=dict)  # what the parts play, by lane

    @property
    def families(self) -> list[str]:
        """Families that play at least one note, in vocabulary order."""
        playing = {p.family for p in self.parts if p.notes}
        return [f for f in FAMILY_NAMES if f in playing]

    @property
    def n_notes(self) -> int:
        return sum(len(p.notes) for p in self.parts)

    def part(self, family_name: str) -> Part | None:
        return next((p for p in self.parts if p.family == family_name), None)

    def channels(self) -> dict[str, int]:
        """MIDI channel of each part (drums on GM channel 10, the rest in order, skipping it)."""
        out, ch = {}, 0
        for p in self.parts:
            if p.is_drums:
                out[p.family] = DRUM_CHANNEL
                continue
            ch += ch == DRUM_CHANNEL
            out[p.family] = ch
            ch += 1
        return out


# ------------------------------------------------------------------------------------ pitch grid
def lane_tonic(lane: str, key: int) -> int:
    """MIDI pitch of degree 0 of a pitched lane: the key's tonic in [LANE_LOW, LANE_LOW + 11]."""
    low = LANE_LOW[lane]
    return low + (key - low) % 12


def degree_pitch(lane: str, degree: int, *, key: int, mode: str) -> int:
    """MIDI pitch of scale degree `degree` (0..15) in a pitched lane."""
    scale = SCALES[mode]
    return lane_tonic(lane, key) + 12 * (degree // 7) + scale[degree % 7]


def pitch_degree(lane: str, pitch: int, *, key: int, mode: str) -> int:
    """The roll column of `pitch` in a pitched lane: its nearest scale degree, moved by octaves
    into 0..15 (a chromatic note snaps to the degree below on a tie)."""
    table = np.array([degree_pitch(lane, d, key=key, mode=mode) for d in range(ROLL_COLUMNS)])
    while pitch < table[0]:
        pitch += 12
    while pitch > table[-1]:
        pitch -= 12
    return int(np.argmin(np.abs(table - pitch) + 1e-3 * (table > pitch)))


def column_pitch(lane: str, column: int, *, key: int, mode: str) -> int:
    return DRUM_KEYS[column] if lane == "drums" else degree_pitch(lane, column, key=key, mode=mode)


def pitch_column(lane: str, pitch: int, *, key: int, mode: str) -> int | None:
    if lane == "drums":
        return DRUM_KEYS.index(pitch) if pitch in DRUM_KEYS else None
    return pitch_degree(lane, pitch, key=key, mode=mode)


# ------------------------------------------------------------------------------------- the roll
def encode_roll(lanes: dict[str, list[ScoreNote]], *, key: int, mode: str, frames: int,
                start_s: float = 0.0) -> np.ndarray:
    """Lane notes -> roll (8, frames, 16) float32 in {-1, 1} on the latent clock (eq. S1).

    onset[l, i, c] = 1 on the frame whose centre is nearest a note's start (if inside);
    hold[l, i, c] = 1 on frames whose centre lies in [start, end) and on the onset frame.
    """
    roll = -np.ones((ROLL_CHANNELS, frames, ROLL_COLUMNS), np.float32)
    times = frame_times(frames, start_s=start_s)
    half = 0.5 / TIMING.latent_fps
    for li, lane in enumerate(LANES):
        for n in lanes.get(lane, []):
            col = pitch_column(lane, n.pitch, key=key, mode=mode)
            if col is None:
                continue
            i = int(np.argmin(np.abs(times - n.start)))
            if abs(times[i] - n.start) <= half:
                roll[2 * li, i, col] = 1.0
                roll[2 * li + 1, i, col] = 1.0
            held = (times >= n.start) & (times < n.end)
            roll[2 * li + 1, held, col] = 1.0
    return roll


def _quantise(t: float, grid: BeatGrid) -> float:
    """`t` moved to the nearest sixteenth of the grid (eq. S3)."""
    pos = float(grid.positions(np.array([t]))[0])
    q = round(pos / SIXTEENTH) * SIXTEENTH
    return grid.first_beat_s + (q + grid.downbeat) * grid.period_s


def _velocity(lane: str, t: float, grid: BeatGrid, intensity: float, column: int) -> int:
    """Metric accents (downbeat > beat > off-beat) on a lane's level, scaled by intensity (eq. S4)."""
    pos = float(grid.positions(np.array([t]))[0])
    on_bar = abs(pos / BEATS_PER_BAR - round(pos / BEATS_PER_BAR)) * BEATS_PER_BAR < 0.05
    on_beat = abs(pos - round(pos)) < 0.05
    base = {"chords": 78, "melody": 96, "bass": 92, "drums": 92}[lane]
    if lane == "drums" and DRUM_KEYS[column] in (42, 44, 46):  # hats sit under kick and snare
        base = 70
    accent = 14 if on_bar else (6 if on_beat else -6)
    return int(np.clip(round((base + accent) * (0.55 + 0.45 * intensity)), 1, 127))


def decode_roll(roll: np.ndarray, *, grid: BeatGrid, key: int, mode: str, start_s: float = 0.0,
                duration: float | None = None, intensity: float = 1.0) -> dict[str, list[ScoreNote]]:
    """Roll (8, T, 16), any real values -> lane notes on the grid (eqs. S2-S4).

    A note starts at every frame where the onset channel is positive and at least its
    neighbours (or where a hold begins without an onset); it lasts while the hold channel
    stays positive. A lane starts at most POLYPHONY[lane] notes on one sixteenth (the strongest
    onsets), and a one-voice lane's note ends where its next one starts. Starts and ends are
    quantised to the grid's sixteenths; a note is at least a sixteenth long (drums: a fixed
    0.1 s hit); notes outside [0, duration) go.
    """
    C, T, F = roll.shape
    assert (C, F) == (ROLL_CHANNELS, ROLL_COLUMNS), f"{roll.shape=}"
    times = frame_times(T, start_s=start_s)
    half = 0.5 / TIMING.latent_fps
    end_of_take = start_s + T / TIMING.latent_fps if duration is None else duration
    out: dict[str, list[ScoreNote]] = {}
    for li, lane in enumerate(LANES):
        onset, hold = roll[2 * li], roll[2 * li + 1]  # (T, 16)
        prev_o = np.concatenate([np.full((1, F), -np.inf), onset[:-1]])
        next_o = np.concatenate([onset[1:], np.full((1, F), -np.inf)])
        peaks = (onset > 0) & (onset >= prev_o) & (onset > next_o)  # (T, 16)
        prev_h = np.concatenate([np.full((1, F), -1.0), hold[:-1]])
        starting = peaks | ((hold > 0) & (prev_h <= 0) & (onset <= 0))
        found: dict[float, dict[int, tuple[float, ScoreNote]]] = {}  # start -> pitch -> (strength, note)
        for i, c in zip(*np.nonzero(starting)):
            t0 = _quantise(float(times[i]), grid)
            if t0 < -1e-6 or t0 >= end_of_take:
                continue
            if lane == "drums":
                t1 = t0 + 0.1
            else:
                j = i + 1
                while j < T and hold[j, c] > 0 and not peaks[j, c]:
                    j += 1
                t1 = max(_quantise(float(times[j - 1]) + half, grid), t0 + SIXTEENTH * grid.period_s)
            pitch = column_pitch(lane, int(c), key=key, mode=mode)
            vel = _velocity(lane, t0, grid, intensity, int(c))
            note = ScoreNote(max(0.0, t0), min(t1, end_of_take), pitch, vel)
            strength = float(max(onset[i, c], hold[i, c]))  # a hold-only start counts as its hold
            at = found.setdefault(round(t0, 4), {})
            if pitch not in at or at[pitch][1].end < note.end:
                at[pitch] = (max(strength, at.get(pitch, (strength,))[0]), note)
        lane_notes = []
        for start in sorted(found):  # at most POLYPHONY[lane] notes start on a sixteenth: the strongest
            kept = sorted(found[start].values(), key=lambda sn: -sn[0])[:POLYPHONY[lane]]
            lane_notes += sorted((n for _, n in kept), key=lambda n: n.pitch)
        if POLYPHONY[lane] == 1:  # one voice: a note ends where the next one starts
            lane_notes = [dataclasses.replace(n, end=min(n.end, nxt.start))
                          for n, nxt in zip(lane_notes, lane_notes[1:])] + lane_notes[-1:]
        out[lane] = lane_notes
    return out


# ------------------------------------------------------------------------------- orchestration
def orchestrate(weights: dict[str, float], *, threshold: float = 0.05) -> dict[str, list[tuple[str, float]]]:
    """Which families play which lane, and how loud (gain 0.35-1 from the weight): lane -> [(family, gain)].

    Drums play the drum lane and bass the bass lane; the pitched families, strongest first,
    take the chords lane (a family that can play chords) and the melody lane (another family
    that can play melody, if any); each other requested family doubles the lane its roles
    allow, chords first. A lane no requested family can play stays silent.
    """
    chosen = sorted(((w, f) for f, w in weights.items() if w > threshold and f in FAMILY_NAMES),
                    key=lambda wf: (-wf[0], FAMILY_NAMES.index(wf[1])))
    lanes: dict[str, list[tuple[str, float]]] = {lane: [] for lane in LANES}

    def gain(w: float) -> float:
        return float(0.35 + 0.65 * min(1.0, w))

    pitched = [(w, f) for w, f in chosen if f not in ("drums", "bass")]
    for w, f in chosen:
        if f in ("drums", "bass"):
            lanes[f].append((f, gain(w)))
    for w, f in pitched:
        roles = family(f).roles
        if not lanes["chords"] and "chords" in roles:
            lanes["chords"].append((f, gain(w)))
        elif not lanes["melody"] and "melody" in roles:
            lanes["melody"].append((f, gain(w)))
        else:
            lanes["chords" if "chords" in roles else "melody"].append((f, gain(w)))
    if not lanes["melody"] and len(pitched) == 1:  # one pitched family plays the melody too
        w, f = pitched[0]
        if "melody" in family(f).roles:
            lanes["melody"].append((f, gain(w)))
    return lanes


def score_from_lanes(lanes: dict[str, list[ScoreNote]], orchestration: dict[str, list[tuple[str, float]]],
                     *, grid: BeatGrid, key: int, mode: str, duration: float) -> Score:
    """Lane notes played by the orchestration's families: one Part per (family, lane)."""
    parts: list[Part] = []
    for lane in LANES:
        for fam, g in orchestration.get(lane, []):
            notes = list(lanes.get(lane, []))
            if not notes:
                continue
            program = -1 if lane == "drums" else PROGRAMS.get((fam, lane), family(fam).programs[0])
            parts.append(Part(fam, lane, program, notes, gain=g))
    return Score(grid=grid, key=key, mode=mode, duration=duration, parts=_merge_same_family(parts),
                 lanes={lane: list(lanes.get(lane, [])) for lane in LANES})


def _merge_same_family(parts: list[Part]) -> list[Part]:
    """A family on two lanes (a piano playing chords and melody) is one part: one MIDI track."""
    merged: dict[str, Part] = {}
    for p in parts:
        if p.family in merged:
            m = merged[p.family]
            merged[p.family] = dataclasses.replace(
                m, notes=sorted(m.notes + p.notes, key=lambda n: (n.start, n.pitch)))
        else:
            merged[p.family] = p
    order = {f: i for i, f in enumerate(FAMILY_NAMES)}
    return sorted(merged.values(), key=lambda p: order[p.family])


def reorchestrate(score: Score, moves: dict[str, str]) -> Score:
    """The same notes with part `a` played by family `b` for each a -> b in `moves`
    (e.g. {"strings": "brass"}); raises KeyError naming an unknown or absent family."""
    for a, b in moves.items():
        family(a), family(b)  # KeyError on unknown names
        if score.part(a) is None:
            raise KeyError(f"the take has no {a} part; it has: {', '.join(score.families) or 'none'}")
        if (a == "drums") != (b == "drums"):
            raise KeyError(f"{a} cannot be played by {b}: the drum part needs the kit")
    parts = []
    for p in score.parts:
        fam = moves.get(p.family, p.family)
        program = p.program if fam == "drums" else PROGRAMS.get((fam, p.role), family(fam).programs[0])
        parts.append(dataclasses.replace(p, family=fam, program=program))
    return dataclasses.replace(score, parts=_merge_same_family(parts))


# --------------------------------------------------------------------- the roll's spectrum (SDMA)
# Where each kit piece's energy lies, as (low, high) Hz: the drum lane's stand-in for harmonics.
DRUM_BANDS = {36: (40, 150), 35: (40, 150), 38: (150, 5000), 39: (500, 6000), 37: (300, 4000),
              42: (5000, 8000), 44: (4000, 8000), 46: (4000, 8000), 49: (3000, 8000), 57: (3000, 8000),
              51: (2500, 8000), 54: (3500, 8000), 45: (70, 400), 47: (90, 500), 50: (110, 600),
              56: (500, 3000)}
HARMONICS = 6  # partials per note in the template, amplitude 1/h


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, the codec's mel): linear below 1 kHz, log above."""
    hz = np.asarray(hz, np.float64)
    lin = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz < 1000.0, lin, log)


def latent_band(hz: float | np.ndarray, *, n_bins: int = ROLL_COLUMNS, fmax: float = 8000.0) -> np.ndarray:
    """Latent mel band (0..n_bins-1, mel axis cut evenly from 0 to fmax) of frequencies; -1 above fmax."""
    m = _slaney_mel(np.asarray(hz)) / _slaney_mel(np.array(fmax))
    return np.where(np.asarray(hz) <= fmax, np.minimum((m * n_bins).astype(int), n_bins - 1), -1)


def roll_mel_template(n_bands: int = ROLL_COLUMNS) -> np.ndarray:
    """W (8, 16, n_bands): the energy of roll channel c, column d in mel band phi (score.md eq. S5);
    16 bands are the latent's mel bins, 64 the codec's mel.

    A pitched column puts partials h = 1..6 of its pitch, amplitude 1/h (energy 1/h^2), in the
    bands they fall in, averaged over the 12 keys and both modes (the roll's columns are
    degrees, so the same column sounds a different pitch in each key); a kit column spreads
    its energy evenly over its band (DRUM_BANDS). Onset channels weigh half as much as the
    hold channels (an attack adds a little energy to a held note). Each column's row sums to
    1 before that weight, so the template says where energy goes, not how much.
    """
    W = np.zeros((ROLL_CHANNELS, ROLL_COLUMNS, n_bands), np.float64)
    for li, lane in enumerate(LANES):
        for d in range(ROLL_COLUMNS):
            row = np.zeros(n_bands)
            if lane == "drums":
                lo, hi = DRUM_BANDS[DRUM_KEYS[d]]
                bands = np.unique(latent_band(np.geomspace(lo, hi, 64), n_bins=n_bands))
                row[bands[bands >= 0]] = 1.0
            else:
                for key in range(12):
                    for mode in SCALES:
                        f0 = 440.0 * 2 ** ((degree_pitch(lane, d, key=key, mode=mode) - 69) / 12)
                        for h in range(1, HARMONICS + 1):
                            b = int(latent_band(f0 * h, n_bins=n_bands))
                            if b >= 0:
                                row[b] += 1.0 / h ** 2
            row /= row.sum()
            W[2 * li, d] = 0.5 * row
            W[2 * li + 1, d] = row
    return W.astype(np.float32)
