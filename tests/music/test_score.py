"""The score engine's notes: the lane roll, its decoding on the beat grid, orchestration (docs/method/score.md)."""
from __future__ import annotations

import numpy as np
import pytest

from soundtrack.corpus.compose import compose
from soundtrack.corpus.notes import piece_lanes
from soundtrack.music.beatgrid import BeatGrid, frame_times
from soundtrack.music.score import (DRUM_KEYS, LANES, POLYPHONY, ROLL_CHANNELS, ROLL_COLUMNS, ScoreNote,
                                    column_pitch, decode_roll, degree_pitch, encode_roll, orchestrate,
                                    pitch_degree, reorchestrate, roll_mel_template, score_from_lanes)
from soundtrack.music.theory import SCALES


def _grid_of(piece) -> BeatGrid:
    beats = piece.beat_times()
    down = int(np.argmin(np.abs(beats - piece.downbeat_times()[0]))) % 4
    return BeatGrid(bpm=piece.tempo_bpm, first_beat_s=float(beats[0]), downbeat=down)


@pytest.mark.parametrize("index", range(6))
def test_a_composed_piece_survives_the_roll(index):
    """Every note of a corpus piece that starts inside the clip comes back from its roll, on time
    (as its pitch class: a chord tone beyond the lane's two octaves moves by an octave into them)."""
    piece = compose(np.random.default_rng([0, index]), duration=10.24)
    lanes = piece_lanes(piece)
    roll = encode_roll(lanes, key=piece.key, mode=piece.mode, frames=256)
    assert roll.shape == (ROLL_CHANNELS, 256, ROLL_COLUMNS) and set(np.unique(roll)) <= {-1.0, 1.0}
    out = decode_roll(roll, grid=_grid_of(piece), key=piece.key, mode=piece.mode, duration=10.24)
    for lane, notes in lanes.items():
        want = {(round(n.start, 2), n.pitch % 12) for n in notes if 0.02 <= n.start < 10.2}
        got = {(round(n.start, 2), n.pitch % 12) for n in out[lane]}
        assert len(want - got) <= 0.05 * len(want) + 1, (lane, sorted(want - got)[:5])


def test_decoded_notes_sit_on_sixteenths_of_the_grid_and_in_the_key():
    rng = np.random.default_rng(0)
    notes = np.where(rng.random((ROLL_CHANNELS, 256, ROLL_COLUMNS)) < 0.03, 1.0, -1.0)
    roll = notes + rng.normal(0, 0.2, (8, 256, 16))
    grid = BeatGrid(bpm=97.0, first_beat_s=0.21, downbeat=1)
    out = decode_roll(roll, grid=grid, key=2, mode="minor", duration=10.24)
    scale = {(2 + s) % 12 for s in SCALES["minor"]}
    n = 0
    for lane, notes in out.items():
        for note in notes:
            pos = grid.positions(np.array([note.start]))[0]
            assert abs(pos * 4 - round(pos * 4)) < 1e-6, (lane, note)
            assert 0 <= note.start < note.end <= 10.24 and 1 <= note.velocity <= 127
            if lane != "drums":
                assert note.pitch % 12 in scale
            else:
                assert note.pitch in DRUM_KEYS
            n += 1
    assert n > 50


def test_a_lane_sounds_no_more_voices_than_the_corpus_writes():
    """A dense, noisy roll: at most POLYPHONY[lane] notes start on a sixteenth (the strongest onsets
    win), and the one-voice lanes (melody, bass) never overlap themselves."""
    rng = np.random.default_rng(1)
    roll = rng.normal(0.0, 1.0, (ROLL_CHANNELS, 256, ROLL_COLUMNS)).astype(np.float32)
    roll[2, 100, 3] = roll[2, 100, 9] = 5.0  # two strong melody onsets on one frame: the louder wins
    roll[2, 100, 9] = 6.0
    grid = BeatGrid(bpm=120.0, first_beat_s=0.0)
    out = decode_roll(roll, grid=grid, key=0, mode="major", duration=10.24)
    for lane, notes in out.items():
        starts = np.unique([round(n.start, 4) for n in notes], return_counts=True)[1]
        assert 1 <= starts.max() <= POLYPHONY[lane], lane
        if POLYPHONY[lane] == 1:
            assert all(a.end <= b.start + 1e-9 for a, b in zip(notes, notes[1:])), lane
    assert POLYPHONY["chords"] == 6 and starts.max() == POLYPHONY["drums"]  # a noisy roll fills the cap
    t = float(frame_times(256)[100])
    at = [n for n in out["melody"] if abs(n.start - t) < 0.07]
    assert [n.pitch for n in at] == [column_pitch("melody", 9, key=0, mode="major")]


def test_degrees_round_trip_and_chromatic_notes_snap():
    for lane in ("chords", "melody", "bass"):
        for d in range(ROLL_COLUMNS):
            assert pitch_degree(lane, degree_pitch(lane, d, key=9, mode="major"), key=9, mode="major") == d
    assert degree_pitch("melody", pitch_degree("melody", 61, key=0, mode="major"), key=0, mode="major") == 60


def test_orchestration_gives_every_requested_family_a_part():
    lanes = orchestrate({"piano": 1.0, "strings": 0.7, "brass": 0.4, "drums": 1.0})
    playing = {f for parts in lanes.values() for f, _ in parts}
    assert playing == {"piano", "strings", "brass", "drums"}
    assert lanes["bass"] == [] and lanes["chords"][0][0] == "piano" and lanes["melody"][0][0] == "strings"
    assert orchestrate({"woodwinds": 1.0})["melody"][0][0] == "woodwinds"
    assert orchestrate({"piano": 1.0})["melody"][0][0] == "piano"  # a soloist plays both
    gains = dict(orchestrate({"piano": 1.0, "organ": 0.2})["chords"])
    assert gains["piano"] > gains["organ"]


def test_reorchestration_keeps_the_notes_and_refuses_what_is_absent():
    notes = {"chords": [ScoreNote(0.0, 1.0, 60, 90)], "melody": [ScoreNote(0.5, 0.75, 72, 100)]}
    score = score_from_lanes(notes, orchestrate({"piano": 1.0, "strings": 1.0}), grid=BeatGrid(120, 0.0),
                             key=0, mode="major", duration=2.0)
    moved = reorchestrate(score, {"strings": "brass"})
    assert moved.families == ["piano", "brass"] and moved.part("brass").notes == score.part("strings").notes
    assert moved.part("brass").program == 56  # trumpet plays the melody
    with pytest.raises(KeyError, match="no guitar part"):
        reorchestrate(score, {"guitar": "brass"})
    with pytest.raises(KeyError, match="unknown instrument family"):
        reorchestrate(score, {"strings": "kazoo"})


def test_the_spectrum_template_puts_bass_low_and_hats_high():
    W = roll_mel_template()
    assert W.shape == (ROLL_CHANNELS, ROLL_COLUMNS, ROLL_COLUMNS)
    np.testing.assert_allclose(W[1::2].sum(-1), 1.0, rtol=1e-5)  # hold rows say where, not how much
    centroid = (W * np.arange(16)).sum(-1) / W.sum(-1)
    bass, drums = 2 * LANES.index("bass") + 1, 2 * LANES.index("drums") + 1
    chords, melody = 2 * LANES.index("chords") + 1, 2 * LANES.index("melody") + 1
    assert centroid[bass].mean() < centroid[chords].mean() < centroid[melody].mean()
    assert np.all(np.diff(centroid[melody]) > 0)  # higher degrees, higher bands
    assert centroid[drums, DRUM_KEYS.index(42)] > 12 > centroid[drums, DRUM_KEYS.index(36)]


def test_a_corpus_item_from_another_composer_is_refused():
    from soundtrack.corpus.notes import item_piece
    from soundtrack.errors import InputError

    piece = compose(np.random.default_rng([0, 7]), duration=10.24)
    labels = {"seed": 0, "index": 7, "duration": 10.24, "tempo_bpm": piece.tempo_bpm, "key": piece.key_name,
              "mode": piece.mode, "instruments": piece.instruments}
    assert item_piece(labels).notes == piece.notes
    with pytest.raises(InputError, match="rebuild the corpus"):
        item_piece({**labels, "tempo_bpm": piece.tempo_bpm + 1})
