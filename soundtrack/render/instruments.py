"""A Score played by General MIDI instruments: stereo float32 at the deliverable rate.

Each :class:`~soundtrack.music.score.Part` is rendered alone through tinysoundfont at `sr`
(no resampling), on its GM program (the drum kit, bank 128 on channel 10, for program -1),
with its notes' velocities. Each note starts at sample round(start * sr) and rings past its
note-off (the preset's release) into a tail cut at the score's duration. A part is then:

    mono     m_p = mean of the synth's two channels            (N,)   the part as one source
    staged   g_p * (cos th_p, sin th_p) * m_p                  (N, 2) constant-power pan
             th_p = (1 + STAGE[family]) * pi / 4, -3 dB per side at the centre
             (soundtrack.audio.mix.pan_gains); g_p = Part.gain, a linear amplitude
    room     (1 - ROOM_WET) * staged + ROOM_WET * (staged (*) h)   h (L, 2): one impulse
             response per side (:func:`room_response`), so even a centred part has left != right

and the render is the sum of the parts. The soundfont's own stereo image (a stereo piano
sample, a kit's panned cymbals) is folded to mono before the stage pan, so the stage layout
(STAGE) is the only panning a listener hears. The same score and soundfont give the same
samples whatever was rendered before (the synthesizer's voices are cleared around every part).

Peak-safe: if the sum's peak exceeds 0.99, the render (and every part with it) is scaled
down to a peak of 0.99; nothing else changes the level. Loudness normalisation is the
mixer's job (soundtrack/audio/mix.py), not this module's.

Speed, measured on 2 shared CPU cores at 48 kHz for a 10 s score of 4 parts and 150 notes
(tests/render/scores.py band_score), soundfont loaded, median of 5: 0.15 s with FluidR3
(0.16-0.23 s with parts=True), 0.11-0.14 s with TimGM6mb; about half is tinysoundfont, the
rest the room's FFTs. Loading once per (soundfont, rate) per process: FluidR3 0.4-0.65 s
(2.9 s from a cold disk cache), TimGM6mb under 0.06 s.
"""
from __future__ import annotations

import functools
import math
import os
import threading
from typing import TYPE_CHECKING, Literal, overload

import numpy as np
import scipy.fft
import scipy.signal

from soundtrack.audio.mix import pan_gains
from soundtrack.errors import InputError
from soundtrack.music.score import Part, Score
from soundtrack.music.theory import DRUM_CHANNEL
from soundtrack.render.soundfonts import default_soundfont, soundfont_path

if TYPE_CHECKING:
    from tinysoundfont import Synth

# The stage: where each family stands, -1 (hard left) .. +1 (hard right). An orchestral seating
# seen from the audience (strings left, brass right, woodwinds just right of centre), the band's
# rhythm section in the middle (bass and drums centred, piano a little left), the rest placed
# so no two families that often play together share a position.
STAGE = {
    "piano": -0.2, "mallets": 0.3, "organ": -0.3, "guitar": 0.25, "bass": 0.0,
    "strings": -0.45, "brass": 0.45, "woodwinds": 0.15, "synth": -0.1, "drums": 0.0,
}
SYNTH_GAIN_DB = -6.0  # tinysoundfont's output gain: one full part stays well below clipping
PEAK = 0.99  # the most a sample may reach; a louder sum is scaled down to it
ROOM_WET = 0.15  # amplitude share of the room in the render
ROOM_S = 0.3  # length of the room's impulse response, seconds
ROOM_RT60_S = 0.35  # decay of its diffuse tail (60 dB), seconds
ROOM_SEED = 20_240  # the room's reflections and tail are fixed, so a render is deterministic


@functools.lru_cache(maxsize=4)
def _synth(soundfont: str, sr: int) -> tuple[Synth, int, threading.Lock]:
    """One loaded synthesizer per (soundfont, rate) per process, with the lock that serialises it
    (a synthesizer has one state; two threads rendering at once would mix their notes)."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sr, gain=SYNTH_GAIN_DB)
    sfid = synth.sfload(os.fspath(soundfont_path(soundfont)))
    return synth, sfid, threading.Lock()


def silence(synth: Synth, *, sr: int) -> None:
    """End every voice and let the releases run out, so no state leaks between renders."""
    synth.notes_off()
    synth.sounds_off()
    synth.generate_simple(sr // 4)


def _render_part(synth: Synth, sfid: int, part: Part, *, channel: int, n: int, sr: int) -> np.ndarray:
    """One part alone from t = 0: mono float32 (n,), its tail cut at n samples."""
    silence(synth, sr=sr)
    if part.is_drums:
        channel = DRUM_CHANNEL
        synth.program_select(channel, sfid, 128, 0, True)
    else:
        synth.program_select(channel, sfid, 0, part.program)
    # (sample, on, pitch, velocity): a note-off sorts before a note-on at the same sample
    events = sorted([(round(note.start * sr), 1, channel, note.pitch, note.velocity) for note in part.notes]
                    + [(round(note.end * sr), 0, channel, note.pitch, 0) for note in part.notes])
    out = play_events(synth, events, n)
    silence(synth, sr=sr)
    return 0.5 * (out[:, 0] + out[:, 1])  # (N,)


def play_events(synth: Synth, events: list[tuple[int, int, int, int, int]], n: int) -> np.ndarray:
    """(n, 2) float32: the synth's interleaved stereo while sorted `events` (sample, on, channel,
    pitch, velocity) play; events outside [0, n] act at its ends. The one event loop of the
    render stage and the corpus (soundtrack/corpus/synth.py)."""
    out = np.zeros((n, 2), np.float32)
    buffer = memoryview(out.reshape(-1).view(np.uint8))
    frame = out.itemsize * 2  # bytes per stereo sample
    pos = 0
    for sample, on, channel, pitch, velocity in events:
        sample = min(max(sample, 0), n)
        if sample > pos:
            synth.generate_simple(sample - pos, buffer=buffer[pos * frame:sample * frame])
            pos = sample
        if on:
            synth.noteon(channel, pitch, velocity)
        else:
            synth.noteoff(channel, pitch)
    if pos < n:
        synth.generate_simple(n - pos, buffer=buffer[pos * frame:])
    return out


@functools.lru_cache(maxsize=4)
def room_response(sr: int) -> np.ndarray:
    """(L, 2) float32 impulse responses of the light room, left and right, each of unit energy.

    Six early reflections per side between 4 and 40 ms (different delays and signs on each
    side), then a diffuse tail of Gaussian noise, independent per side, that fades in over
    20 ms and decays 60 dB in ROOM_RT60_S, darkened by a one-pole low-pass (air absorption).
    Early and tail carry equal energy. No direct sound: the dry signal is mixed in by the
    caller.
    """
    rng = np.random.default_rng(ROOM_SEED)
    length = round(ROOM_S * sr)
    t = np.arange(length) / sr  # (L,)
    early = np.zeros((length, 2))
    for side in range(2):
        delays = np.sort(rng.uniform(0.004, 0.040, 6))
        early[np.round(delays * sr).astype(int), side] += rng.choice([-1.0, 1.0], 6) * 0.8 ** np.arange(6)
    envelope = np.exp(-math.log(1000.0) * t / ROOM_RT60_S) * np.minimum(1.0, t / 0.020)  # (L,)
    tail = rng.standard_normal((length, 2)) * envelope[:, None]
    a = math.exp(-2 * math.pi * 6000.0 / sr)  # one-pole low-pass at ~6 kHz
    tail = scipy.signal.lfilter([1 - a], [1, -a], tail, axis=0)
    h = early / np.sqrt((early ** 2).sum(axis=0)) + tail / np.sqrt((tail ** 2).sum(axis=0))
    h = (h / np.sqrt((h ** 2).sum(axis=0))).astype(np.float32)
    h.setflags(write=False)  # cached: shared by every caller
    return h


@functools.lru_cache(maxsize=8)
def _room_spectrum(size: int, sr: int) -> np.ndarray:
    """(2, size // 2 + 1) complex64: the room's responses through an FFT of `size` points."""
    spectrum = scipy.fft.rfft(room_response(sr).T, size, axis=1)
    spectrum.setflags(write=False)
    return spectrum


def _with_room(dry: np.ndarray, *, sr: int) -> np.ndarray:
    """(2, N) dry -> (2, N) float32 (1 - ROOM_WET) dry + ROOM_WET (dry (*) h), each side its own h.

    Linear, so the room of a sum of parts is the sum of the parts' rooms."""
    n = dry.shape[1]
    size = scipy.fft.next_fast_len(n + round(ROOM_S * sr) - 1, real=True)
    wet = scipy.fft.irfft(scipy.fft.rfft(dry, size, axis=1) * _room_spectrum(size, sr), size, axis=1)
    return (1 - ROOM_WET) * dry + ROOM_WET * wet[:, :n]


@overload
def render_score(score: Score, *, sr: int = ..., soundfont: str | None = ...,
                 parts: Literal[False] = ...) -> np.ndarray: ...
@overload
def render_score(score: Score, *, sr: int = ..., soundfont: str | None = ...,
                 parts: Literal[True]) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...
def render_score(score: Score, *, sr: int = 48_000, soundfont: str | None = None,
                 parts: bool = False) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """The score played by its parts' GM instruments: float32 (N, 2), N = round(duration * sr).

    `soundfont` is a name of soundtrack.render.soundfonts (None: :func:`default_soundfont`).
    With `parts`, also {family: (N, 2) float32} of each sounding part alone, room included and
    at the render's peak scale, so the parts sum to the render (up to float rounding); two
    parts of one family share an entry. If the sum would peak above 0.99 it is scaled down to
    0.99 (the parts with it). InputError for a score without notes or an unknown or missing
    soundfont.
    """
    # 1. Check inputs
    if score.n_notes == 0:
        raise InputError("the score has no notes to render")
    name = soundfont or default_soundfont()
    soundfont_path(name)  # InputError naming the install step
    n = round(score.duration * sr)
    assert n > 0, f"{score.duration=}"

    # 2. Each sounding part alone, mono, at sr (the synth is shared, so one render at a time)
    synth, sfid, lock = _synth(name, sr)
    channels = score.channels()
    mono: dict[str, np.ndarray] = {}  # family -> (N,), at the part's gain
    with lock:
        for part in score.parts:
            if part.notes:
                m = _render_part(synth, sfid, part, channel=channels[part.family], n=n, sr=sr)
                m *= np.float32(part.gain)
                mono[part.family] = mono[part.family] + m if part.family in mono else m

    # 3. Stage pan and room, channels first: (2, P) gains @ (P, N) parts -> (2, N)
    families = list(mono)
    gains = np.stack(pan_gains(np.array([(1.0 + STAGE[fam]) / 2.0 for fam in families])))  # (2, P)
    gains = gains.astype(np.float32)
    if parts:
        out = {fam: _with_room(gains[:, i:i + 1] * mono[fam], sr=sr) for i, fam in enumerate(families)}
        audio = np.sum(list(out.values()), axis=0)  # (2, N)
    else:
        audio = _with_room(gains @ np.stack([mono[fam] for fam in families]), sr=sr)  # (2, N)

    # 4. Peak safety (no loudness change otherwise); (2, N) -> (N, 2)
    peak = float(np.abs(audio).max())
    scale = np.float32(PEAK / peak if peak > PEAK else 1.0)
    audio = np.ascontiguousarray((audio * scale).T, dtype=np.float32)
    assert audio.shape == (n, 2), f"{audio.shape=} {n=}"
    if not parts:
        return audio
    return audio, {fam: np.ascontiguousarray((a * scale).T, dtype=np.float32) for fam, a in out.items()}
