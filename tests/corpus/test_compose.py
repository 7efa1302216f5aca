"""Composition: labels follow from the notes, and the notes from the labels."""
from __future__ import annotations

import numpy as np

from soundtrack.corpus.compose import compose
from soundtrack.music.theory import BEATS_PER_BAR, DRUM_CHANNEL, SCALES, TEMPO_RANGE
from soundtrack.music.families import FAMILY_NAMES


def test_piece_is_a_function_of_the_rng() -> None:
    a = compose(np.random.default_rng([7, 1]), duration=10.24)
    b = compose(np.random.default_rng([7, 1]), duration=10.24)
    assert a.notes == b.notes and a.tempo_bpm == b.tempo_bpm and a.tracks == b.tracks


def test_beats_and_downbeats_follow_the_tempo() -> None:
    for i in range(20):
        piece = compose(np.random.default_rng([0, i]), duration=10.24)
        assert TEMPO_RANGE[0] <= piece.tempo_bpm <= TEMPO_RANGE[1]
        beats = piece.beat_times()
        assert beats[0] >= 0 and beats[-1] < 10.24
        assert beats[0] < piece.beat_period + 1e-9, "no beat missing at the start"
        np.testing.assert_allclose(np.diff(beats), 60.0 / piece.tempo_bpm, atol=1e-9)
        downbeats = piece.downbeat_times()
        assert set(np.round(downbeats, 6)) <= set(np.round(beats, 6))
        np.testing.assert_allclose(np.diff(downbeats), BEATS_PER_BAR * piece.beat_period, atol=1e-9)


def test_instruments_label_matches_the_tracks_that_play() -> None:
    for i in range(30):
        piece = compose(np.random.default_rng([1, i]), duration=10.24)
        assert set(piece.instruments) <= set(FAMILY_NAMES)
        sounding = {t.family for t in piece.tracks
                    if any(n.channel == t.channel and n.end > 0 and n.start < 10.24 for n in piece.notes)}
        assert sounding == set(piece.instruments), (sounding, piece.instruments)
        has_kit = any(n.channel == DRUM_CHANNEL for n in piece.notes)
        assert has_kit == ("drums" in piece.instruments)


def test_pitched_notes_stay_in_key() -> None:
    """Every pitched note is a scale tone of the labelled key and mode."""
    for i in range(20):
        piece = compose(np.random.default_rng([2, i]), duration=10.24)
        allowed = {(piece.key + d) % 12 for d in SCALES[piece.mode]}
        pitched = [n for n in piece.notes if n.channel != DRUM_CHANNEL]
        assert pitched and all(n.pitch % 12 in allowed for n in pitched)


def test_drum_hits_fall_on_the_beat_grid() -> None:
    """Kick, snare and hats sit on eighth-note positions of the labelled tempo."""
    for i in range(20):
        piece = compose(np.random.default_rng([3, i]), duration=10.24)
        for n in piece.notes:
            if n.channel == DRUM_CHANNEL:
                pos = (n.start - piece.downbeat0) / (piece.beat_period / 2)
                assert abs(pos - round(pos)) < 1e-6, (n, piece.tempo_bpm)
