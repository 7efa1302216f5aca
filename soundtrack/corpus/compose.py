"""Procedural composition: a multi-track piece (chords, melody, bass, drums) whose tempo,
beats, key, mode and instrumentation are known exactly, because they were chosen first.

Everything is in seconds relative to the clip start; notes may start before 0 (a one-bar
pre-roll, so sustained sounds ring into the clip) and are cut when rendered.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from soundtrack.music.families import FAMILIES, Family, families_for
from soundtrack.music.theory import BEATS_PER_BAR, DRUM_CHANNEL, PITCH_NAMES, SCALES, TEMPO_RANGE

# Chord progressions as 0-based scale degrees, one chord per bar.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 5, 4)),
}
KICK, SNARE, CLAP, HAT, OPEN_HAT, CRASH = 36, 38, 39, 42, 46, 49


@dataclass(frozen=True)
class Note:
    start: float  # seconds from clip start
    end: float
    pitch: int
    velocity: int
    channel: int


@dataclass(frozen=True)
class Track:
    family: str
    role: str  # "chords" | "melody" | "bass" | "drums"
    program: int  # GM program, 0-based; -1 for the drum kit
    channel: int


@dataclass
class Piece:
    tempo_bpm: float
    key: int  # pitch class of the tonic, 0 = C
    mode: str  # "major" | "minor"
    downbeat0: float  # time of the first downbeat at or before 0 (<= 0)
    duration: float  # clip length in seconds
    tracks: list[Track] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    chords: list[tuple[float, str]] = field(default_factory=list)  # (time, symbol)
    intensity: float = 1.0  # velocity scale 0.6..1

    @property
    def beat_period(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def key_name(self) -> str:
        return PITCH_NAMES[self.key]

    @property
    def instruments(self) -> list[str]:
        """Family names that sound in the clip, in vocabulary order."""
        present = {t.family for t in self.tracks}
        return [f.name for f in FAMILIES if f.name in present]

    def beat_times(self, *, start: float = 0.0, end: float | None = None) -> np.ndarray:
        """All beat times in [start, end) (end defaults to the clip end)."""
        end = self.duration if end is None else end
        k0 = int(np.ceil((start - self.downbeat0) / self.beat_period - 1e-9))
        k1 = int(np.ceil((end - self.downbeat0) / self.beat_period - 1e-9))
        return self.downbeat0 + np.arange(k0, k1) * self.beat_period

    def downbeat_times(self, *, start: float = 0.0, end: float | None = None) -> np.ndarray:
        beats = self.beat_times(start=self.downbeat0, end=self.duration if end is None else end)
        bars = beats[::BEATS_PER_BAR]
        return bars[bars >= start - 1e-9]

    def notes_of(self, family_name: str) -> list[Note]:
        channels = {t.channel for t in self.tracks if t.family == family_name}
        return [n for n in self.notes if n.channel in channels]


def compose(rng: np.random.Generator, *, duration: float) -> Piece:
    """Draw tempo, key, mode, instrumentation and write the notes of every track."""
    tempo = float(np.round(rng.uniform(*TEMPO_RANGE), 1))
    piece = Piece(
        tempo_bpm=tempo,
        key=int(rng.integers(12)),
        mode=str(rng.choice(("major", "minor"))),
        downbeat0=-float(rng.uniform(0.0, BEATS_PER_BAR)) * 60.0 / tempo,
        duration=duration,
        intensity=float(rng.uniform(0.6, 1.0)),
    )
    piece.tracks = _choose_tracks(rng)
    _write(piece, rng)
    return piece


def compose_for(rng: np.random.Generator, *, duration: float, tempo_bpm: float, key: int, mode: str,
                downbeat0: float, intensity: float = 0.8) -> Piece:
    """The rules alone for a request: the same writers at a given tempo, key, mode and bar phase,
    with every role (a chord family, a melody family, bass, drums) so that any orchestration finds
    its lane. The score engine's ablation `composer` (docs/method/score.md) plays these notes."""
    piece = Piece(tempo_bpm=float(tempo_bpm), key=int(key), mode=mode, downbeat0=float(downbeat0),
                  duration=duration, intensity=float(intensity))
    chords, melody = families_for("chords")[0], families_for("melody")[0]
    piece.tracks = [Track(chords.name, "chords", chords.programs[0], 0),
                    Track(melody.name, "melody", melody.programs[0], 1),
                    Track(families_for("bass")[0].name, "bass", families_for("bass")[0].programs[0], 2),
                    Track(families_for("drums")[0].name, "drums", -1, DRUM_CHANNEL)]
    _write(piece, rng)
    return piece


def _write(piece: Piece, rng: np.random.Generator) -> None:
    """A progression (one chord per bar) and every track's notes, drawn from `rng`."""
    bars = _bar_starts(piece)
    progression = PROGRESSIONS[piece.mode][int(rng.integers(len(PROGRESSIONS[piece.mode])))]
    chords = [_triad(piece, progression[i % len(progression)]) for i in range(len(bars))]
    piece.chords = [(float(t), _chord_symbol(piece, progression[i % len(progression)]))
                    for i, t in enumerate(bars)]
    writers = {"chords": _chord_track, "melody": _melody_track, "bass": _bass_track,
               "drums": _drum_track}
    for track in piece.tracks:
        piece.notes.extend(writers[track.role](piece, track, bars, chords, rng))


def _choose_tracks(rng: np.random.Generator) -> list[Track]:
    """1 chord family, 0-1 melody family, bass (p=0.8), drums (p=0.75), a second pad (p=0.3)."""
    picks: list[tuple[Family, str]] = []
    chord_fams = families_for("chords")
    picks.append((chord_fams[int(rng.integers(len(chord_fams)))], "chords"))
    if rng.random() < 0.85:
        mel = families_for("melody")
        picks.append((mel[int(rng.integers(len(mel)))], "melody"))
    if rng.random() < 0.3:
        picks.append((chord_fams[int(rng.integers(len(chord_fams)))], "chords"))
    if rng.random() < 0.8:
        picks.append((families_for("bass")[0], "bass"))
    if rng.random() < 0.75:
        picks.append((families_for("drums")[0], "drums"))
    tracks: list[Track] = []
    channel = 0
    for fam, role in picks:
        if role == "drums":
            tracks.append(Track(fam.name, role, -1, DRUM_CHANNEL))
            continue
        program = fam.programs[int(rng.integers(len(fam.programs)))]
        tracks.append(Track(fam.name, role, program, channel))
        channel += 1
    return tracks


def _bar_starts(piece: Piece) -> np.ndarray:
    """Bar start times from one bar before the clip (pre-roll) to its end."""
    bar = BEATS_PER_BAR * piece.beat_period
    start = piece.downbeat0 - bar
    return start + np.arange(int(np.ceil((piece.duration - start) / bar))) * bar


def _triad(piece: Piece, degree: int) -> tuple[int, int, int]:
    """Pitch classes (root, third, fifth) of the diatonic triad on `degree`."""
    scale = SCALES[piece.mode]
    return tuple((piece.key + scale[(degree + k) % 7]) % 12 for k in (0, 2, 4))  # type: ignore[return-value]


def _chord_symbol(piece: Piece, degree: int) -> str:
    root, third, fifth = _triad(piece, degree)
    quality = {(4, 7): "", (3, 7): "m", (3, 6): "dim"}.get(((third - root) % 12, (fifth - root) % 12), "?")
    return PITCH_NAMES[root] + quality


def _voicing(pcs: tuple[int, ...], low: int) -> list[int]:
    """Close voicing of pitch classes upward from `low`."""
    out, base = [], low
    for pc in pcs:
        p = base + (pc - base) % 12
        out.append(p)
        base = p + 1
    return out


def _vel(piece: Piece, rng: np.random.Generator, base: float) -> int:
    return int(np.clip(base * piece.intensity + rng.normal(0, 6), 20, 127))


def _has_kit(piece: Piece) -> bool:
    return any(t.role == "drums" for t in piece.tracks)


def _chord_track(piece: Piece, track: Track, bars: np.ndarray, chords: list, rng) -> list[Note]:
    p = piece.beat_period
    styles = ["sustain", "stabs", "half"] + (["arp"] if 90 <= piece.tempo_bpm <= 130 else [])
    if not _has_kit(piece):
        styles = [s for s in styles if s in ("stabs", "arp")]  # the chords keep the beat without a kit
    style = styles[int(rng.integers(len(styles)))]
    low = int(rng.integers(52, 60))
    notes: list[Note] = []
    for t0, pcs in zip(bars, chords):
        voice = _voicing(pcs, low)
        if style == "sustain":
            hits = [(0.0, 4.0, voice)]
        elif style == "half":
            hits = [(0.0, 2.0, voice), (2.0, 2.0, voice)]
        elif style == "stabs":
            hits = [(b, 0.6, voice) for b in range(4)]
        else:  # arpeggio in eighths: root, third, fifth, octave, ...
            seq = voice + [voice[0] + 12]
            hits = [(0.5 * i, 0.5, [seq[i % 4]]) for i in range(8)]
        for beat, length, pitches in hits:
            accent = 95 if beat == 0 else 80
            for pitch in pitches:
                notes.append(Note(t0 + beat * p, t0 + (beat + length) * p * 0.98, pitch,
                                  _vel(piece, rng, accent), track.channel))
    return notes


MELODY_RHYTHMS = ((1, 1, 1, 1), (2, 1, 1), (1, 0.5, 0.5, 2), (1.5, 0.5, 2), (3, 1), (2, 2),
                  (0.5, 0.5, 1, 0.5, 0.5, 1))


def _melody_track(piece: Piece, track: Track, bars: np.ndarray, chords: list, rng) -> list[Note]:
    p = piece.beat_period
    scale = SCALES[piece.mode]
    rhythms = [r for r in MELODY_RHYTHMS if min(r) >= 1 or 90 <= piece.tempo_bpm <= 140]
    degree = int(rng.integers(0, 7)) + 7  # index into a two-octave scale from the tonic
    tonic = 60 + piece.key if piece.key < 6 else 48 + piece.key
    notes: list[Note] = []
    for t0, pcs in zip(bars, chords):
        beat = 0.0
        for length in rhythms[int(rng.integers(len(rhythms)))]:
            if beat in (0.0, 2.0):  # strong beats land on a chord tone
                options = [d for d in range(3, 14) if (piece.key + scale[d % 7]) % 12 in pcs]
                degree = min(options, key=lambda d: abs(d - degree) + rng.random())
            else:
                degree = int(np.clip(degree + rng.choice((-2, -1, -1, 1, 1, 2)), 2, 14))
            if rng.random() > 0.12:
                pitch = tonic + 12 * (degree // 7) + scale[degree % 7]
                notes.append(Note(t0 + beat * p, t0 + (beat + length) * p * 0.95, int(pitch),
                                  _vel(piece, rng, 100 if beat == 0 else 88), track.channel))
            beat += length
    return notes


def _bass_track(piece: Piece, track: Track, bars: np.ndarray, chords: list, rng) -> list[Note]:
    p = piece.beat_period
    patterns = ["halves", "quarters", "root_fifth"] + (["eighths"] if 90 <= piece.tempo_bpm <= 110 else [])
    if not _has_kit(piece):
        patterns = [p for p in patterns if p != "halves"]
    pattern = patterns[int(rng.integers(len(patterns)))]
    notes: list[Note] = []
    for t0, pcs in zip(bars, chords):
        root = 36 + (pcs[0] - 36) % 12
        fifth = 36 + (pcs[2] - 36) % 12
        if pattern == "halves":
            hits = [(0, 2, root), (2, 2, root)]
        elif pattern == "quarters":
            hits = [(b, 1, root) for b in range(4)]
        elif pattern == "root_fifth":
            hits = [(0, 1, root), (1, 1, fifth), (2, 1, root), (3, 1, fifth)]
        else:
            hits = [(0.5 * i, 0.5, root if i % 4 != 3 else fifth) for i in range(8)]
        for beat, length, pitch in hits:
            notes.append(Note(t0 + beat * p, t0 + (beat + length) * p * 0.9, pitch,
                              _vel(piece, rng, 100 if beat == 0 else 90), track.channel))
    return notes


def _drum_track(piece: Piece, track: Track, bars: np.ndarray, chords: list, rng) -> list[Note]:
    """Rock or four-on-the-floor; hats in eighths from 90 to 140 BPM, in quarters elsewhere."""
    p = piece.beat_period
    eighth_hats = 90 <= piece.tempo_bpm <= 140
    style = str(rng.choice(("rock", "four")))
    hat_steps = [0.5 * i for i in range(8)] if eighth_hats else [0, 1, 2, 3]
    notes: list[Note] = []
    for i, t0 in enumerate(bars):
        hits: list[tuple[float, int, float]] = []
        if style == "rock":
            hits += [(0, KICK, 110), (2, KICK, 100), (1, SNARE, 100), (3, SNARE, 100)]
            if rng.random() < 0.4:
                hits.append((2.5, KICK, 85))
        else:
            hits += [(b, KICK, 110 if b == 0 else 100) for b in range(4)]
            hits += [(1, CLAP, 95), (3, CLAP, 95)]
        hits += [(b, HAT, 80 if b == int(b) else 62) for b in hat_steps]
        if i % 4 == 1:  # crash on the first downbeat after the pre-roll and every 4 bars
            hits.append((0, CRASH, 95))
        for beat, pitch, vel in hits:
            notes.append(Note(t0 + beat * p, t0 + beat * p + 0.1, pitch,
                              _vel(piece, rng, vel), track.channel))
    return notes
