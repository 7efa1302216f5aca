"""Render a composed piece through a real General MIDI soundfont (tinysoundfont).

Three soundfonts are known: TimGM6mb (shipped inside the pretty_midi wheel, GPL-2) and
FluidR3_GM (Debian `fluid-soundfont-gm`, MIT), which the corpus draws from, and MuseScore
General (Debian `musescore-general-soundfont`, MIT; an SF3 that takes ~3.5 s and ~2.5 GB to
load), which only SNIO's instrument classifier hears (`soundtrack.corpus.rerender`).
Rendering runs at 32 kHz, then is resampled to the model's 16 kHz, which keeps the
sampler's aliasing above 8 kHz.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import soxr

from soundtrack.corpus.compose import Piece
from soundtrack.music.theory import DRUM_CHANNEL
from soundtrack.errors import InputError

RENDER_SR = 32_000


def soundfont_paths() -> dict[str, Path]:
    """Known soundfonts by short name (whether installed or not)."""
    import pretty_midi

    return {
        "timgm6mb": Path(pretty_midi.__file__).with_name("TimGM6mb.sf2"),
        "fluidr3": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
        "musescore": Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
    }


_PACKAGES = {"fluidr3": "fluid-soundfont-gm", "musescore": "musescore-general-soundfont"}


def check_soundfonts(names: tuple[str, ...]) -> None:
    """Raise InputError naming the install step for any soundfont that is missing."""
    paths = soundfont_paths()
    for name in names:
        if name not in paths:
            raise InputError(f"unknown soundfont {name!r}; known: {', '.join(paths)}")
        if not paths[name].is_file():
            raise InputError(f"soundfont {name} not found at {paths[name]} (apt-get install "
                             f"{_PACKAGES.get(name, name)}; a corpus builds without it with "
                             "--soundfonts timgm6mb)")


@functools.lru_cache(maxsize=4)
def _synth(name: str):
    """One loaded synthesizer per soundfont per process (loading FluidR3 takes ~0.5 s)."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=RENDER_SR, gain=-6.0)
    sfid = synth.sfload(os.fspath(soundfont_paths()[name]))
    return synth, sfid


def render_piece(piece: Piece, *, soundfont: str, sr: int) -> np.ndarray:
    """Mono float32 `(round(duration*sr),)` of the piece from t=0, pre-roll rendered and cut."""
    synth, sfid = _synth(soundfont)
    _silence(synth)  # a clean state whatever this process rendered before
    for track in piece.tracks:
        if track.channel == DRUM_CHANNEL:
            synth.program_select(DRUM_CHANNEL, sfid, 128, 0, True)
        else:
            synth.program_select(track.channel, sfid, 0, track.program)
    t_start = min([0.0] + [n.start for n in piece.notes])
    # (sample, order, on, channel, pitch, velocity): note-offs sort before note-ons at a tie
    events = []
    for n in piece.notes:
        events.append((int(round((n.start - t_start) * RENDER_SR)), 1, n.channel, n.pitch, n.velocity))
        events.append((int(round((n.end - t_start) * RENDER_SR)), 0, n.channel, n.pitch, 0))
    events.sort()
    total = int(round((piece.duration - t_start) * RENDER_SR))
    out = np.zeros((total, 2), np.float32)
    pos = 0
    for sample, on, channel, pitch, velocity in events:
        sample = min(sample, total)
        if sample > pos:
            out[pos:sample] = np.frombuffer(synth.generate(sample - pos), np.float32).reshape(-1, 2)
            pos = sample
        if on:
            synth.noteon(channel, pitch, velocity)
        else:
            synth.noteoff(channel, pitch)
    if pos < total:
        out[pos:] = np.frombuffer(synth.generate(total - pos), np.float32).reshape(-1, 2)
    _silence(synth)
    start = int(round(-t_start * RENDER_SR))
    mono = out[start:].mean(axis=1)
    audio = soxr.resample(mono, RENDER_SR, sr).astype(np.float32)
    n = int(round(piece.duration * sr))
    return np.pad(audio, (0, max(0, n - len(audio))))[:n]


def _silence(synth) -> None:
    """End every voice and let the releases run out, so no state leaks between renders."""
    synth.notes_off()
    synth.sounds_off()
    synth.generate(RENDER_SR // 4)
