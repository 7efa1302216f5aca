"""Render a composed piece through a real General MIDI soundfont (tinysoundfont).

The corpus draws from TimGM6mb and FluidR3_GM; MuseScore General is heard only by SNIO's
instrument classifier (`soundtrack.corpus.rerender`). The table of known soundfonts and their
install steps is soundtrack/render/soundfonts.py.
Rendering runs at 32 kHz, then is resampled to the model's 16 kHz, which keeps the
sampler's aliasing above 8 kHz.
"""
from __future__ import annotations

import functools
import os

import numpy as np
import soxr

from soundtrack.corpus.compose import Piece
from soundtrack.music.theory import DRUM_CHANNEL
from soundtrack.render.instruments import play_events, silence
from soundtrack.render.soundfonts import check_soundfonts, soundfont_paths

__all__ = ["RENDER_SR", "check_soundfonts", "render_piece", "soundfont_paths"]

RENDER_SR = 32_000


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
    silence(synth, sr=RENDER_SR)  # a clean state whatever this process rendered before
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
    out = play_events(synth, events, total)  # (total, 2)
    silence(synth, sr=RENDER_SR)
    start = int(round(-t_start * RENDER_SR))
    mono = out[start:].mean(axis=1)
    audio = soxr.resample(mono, RENDER_SR, sr).astype(np.float32)
    n = int(round(piece.duration * sr))
    return np.pad(audio, (0, max(0, n - len(audio))))[:n]


