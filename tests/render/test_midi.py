"""music.mid: a type-1 file read back by pretty_midi and mido with the score's tracks, tempo,
meter, key and notes; bar lines on the grid's downbeats; an atomic write."""
from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest

from soundtrack.music.beatgrid import BeatGrid
from soundtrack.music.score import Part, Score, ScoreNote
from soundtrack.render.midi import VIDEO_START, midi_offset, score_to_midi, write_midi
from tests.render.scores import band_score


def minor_band(*, bpm: float = 117.3) -> Score:
    """The band in A minor on a grid whose first downbeat is not at 0 s (beat 1 of 0.21 s + k P)."""
    score = band_score(duration=6.0, bpm=bpm, first_beat_s=0.21, downbeat=1)
    score.key, score.mode = 9, "minor"
    score.parts[1].gain = 0.5  # bass
    return score


@pytest.mark.parametrize("bpm", [117.3, 61.0])
def test_the_file_reads_back_with_its_tracks_tempo_meter_key_and_notes(tmp_path: Path, bpm: float) -> None:
    score = minor_band(bpm=bpm)
    path = write_midi(score, tmp_path / "music.mid")
    offset = midi_offset(score.grid)
    assert 0 < offset < 4 * score.grid.period_s

    # mido: the file as written
    mid = mido.MidiFile(path)
    assert mid.type == 1 and len(mid.tracks) == 1 + len(score.parts)
    for track, part in zip(mid.tracks[1:], score.parts):
        names = [m.name for m in track if m.type == "track_name"]
        programs = [(m.channel, m.program) for m in track if m.type == "program_change"]
        volume = [m.value for m in track if m.type == "control_change" and m.control == 7]
        assert names == [part.family]
        assert programs == ([(9, 0)] if part.is_drums else [(programs[0][0], part.program)])
        assert programs[0][0] != 9 or part.is_drums
        assert volume == [round(127 * part.gain ** 0.5)]
    meta = [m for m in mid.tracks[0] if m.is_meta]
    tempos = [m.tempo for m in meta if m.type == "set_tempo"]
    assert len(tempos) == 1 and mido.tempo2bpm(tempos[0]) == pytest.approx(bpm, abs=0.01)
    assert [(m.numerator, m.denominator) for m in meta if m.type == "time_signature"] == [(4, 4)]
    assert [m.key for m in meta if m.type == "key_signature"] == ["Am"]

    # pretty_midi: the notes in seconds, and where the bars fall
    pm = pretty_midi.PrettyMIDI(str(path))
    assert [(i.name, i.program, i.is_drum) for i in pm.instruments] == [
        (p.family, max(p.program, 0), p.is_drums) for p in score.parts]
    assert [k.key_number for k in pm.key_signature_changes] == [21]  # A minor
    for inst, part in zip(pm.instruments, score.parts):
        got = sorted((n.start, n.end, n.pitch, n.velocity) for n in inst.notes)
        want = sorted((n.start + offset, n.end + offset, n.pitch, n.velocity) for n in part.notes)
        assert len(got) == len(want)
        np.testing.assert_allclose(np.array(got)[:, :2], np.array(want)[:, :2], atol=0.002)
        assert [g[2:] for g in got] == [w[2:] for w in want]
    video_start = [t.time for t in pm.text_events if t.text == VIDEO_START]
    assert video_start == [pytest.approx(offset, abs=0.001)]
    bar = 4 * score.grid.period_s
    downbeats = score.grid.first_beat_s + score.grid.downbeat * score.grid.period_s + bar * np.arange(2)
    np.testing.assert_allclose(pm.get_downbeats()[1:3], downbeats + offset, atol=0.001)


def test_no_offset_when_a_downbeat_is_at_zero() -> None:
    assert midi_offset(BeatGrid(bpm=120.0, first_beat_s=0.0, downbeat=0)) == 0.0
    assert midi_offset(BeatGrid(bpm=120.0, first_beat_s=0.5, downbeat=3)) == 0.0  # 0.5 + 3 * 0.5 = one bar
    assert midi_offset(BeatGrid(bpm=120.0, first_beat_s=0.5, downbeat=0)) == pytest.approx(1.5)
    pm = score_to_midi(band_score(duration=2.0))
    assert pm.instruments[0].notes[0].start == 0.0


def test_write_midi_leaves_nothing_when_it_fails(tmp_path: Path, monkeypatch) -> None:
    score = Score(grid=BeatGrid(bpm=100.0, first_beat_s=0.0), key=2, mode="major", duration=2.0,
                  parts=[Part("piano", "melody", 0, [ScoreNote(0.0, 0.5, 62, 90)])])
    with pytest.raises(OSError):
        write_midi(score, tmp_path / "missing" / "music.mid")
    assert not (tmp_path / "missing").exists()

    path = tmp_path / "music.mid"
    path.write_bytes(b"the take before")

    def broken(self, f) -> None:
        f.write(b"MThd half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(pretty_midi.PrettyMIDI, "write", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_midi(score, path)
    assert path.read_bytes() == b"the take before"  # the old file stands, no half-written one
    with pytest.raises(RuntimeError, match="disk full"):
        write_midi(score, tmp_path / "new.mid")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["music.mid"]  # no new file, no temporary
