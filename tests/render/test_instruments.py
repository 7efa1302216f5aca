"""Rendering a Score through a GM soundfont: length, timing, stage, room, levels, errors.

Every render uses TimGM6mb (inside the pretty_midi wheel), so the tests need no Debian package.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from soundtrack.errors import InputError
from soundtrack.music.families import FAMILY_NAMES
from soundtrack.music.score import Part, Score, ScoreNote
from soundtrack.render import soundfonts
from soundtrack.render.instruments import PEAK, STAGE, render_score
from tests.render.scores import band_score, one_part

SF = "timgm6mb"
SR = 48_000


def db(x: np.ndarray, y: np.ndarray) -> float:
    """Energy of x over energy of y, dB."""
    energy = np.sum(np.square(x, dtype=np.float64)) / np.sum(np.square(y, dtype=np.float64))
    return 10 * math.log10(float(energy))


def onset(audio: np.ndarray, *, rel: float = 1e-3) -> int:
    """First sample whose envelope (max over sides) reaches `rel` of the peak (-60 dB)."""
    env = np.abs(audio).max(axis=1)
    return int(np.flatnonzero(env >= rel * env.max())[0])


@pytest.fixture(scope="module")
def band() -> tuple[Score, np.ndarray, dict[str, np.ndarray]]:
    score = band_score(duration=4.0, first_beat_s=0.3)
    audio, parts = render_score(score, sr=SR, soundfont=SF, parts=True)
    return score, audio, parts


def test_render_has_the_score_length_and_is_stereo(band) -> None:
    score, audio, parts = band
    assert audio.shape == (round(score.duration * SR), 2) and audio.dtype == np.float32
    assert np.isfinite(audio).all() and 0.01 < np.abs(audio).max() <= PEAK
    assert set(parts) == {"piano", "bass", "strings", "drums"}
    assert all(p.shape == audio.shape and p.dtype == np.float32 for p in parts.values())
    np.testing.assert_allclose(np.sum(list(parts.values()), axis=0), audio, atol=1e-5)
    other = render_score(score, sr=32_000, soundfont=SF)  # the synth runs at the rate asked for
    assert other.shape == (round(score.duration * 32_000), 2)


def test_parts_and_mix_agree_and_a_render_is_stateless(band) -> None:
    score, audio, _ = band
    mix = render_score(score, sr=SR, soundfont=SF)
    np.testing.assert_allclose(mix, audio, atol=1e-5)
    render_score(one_part("organ", program=16, notes=[ScoreNote(0.0, 3.0, 60, 127)]),
                 sr=SR, soundfont=SF)  # a long note left ringing, on another program
    np.testing.assert_array_equal(render_score(score, sr=SR, soundfont=SF), mix)


def test_silence_before_the_first_note_and_each_part_starts_on_its_first_note(band) -> None:
    score, audio, parts = band
    first = round(0.3 * SR)
    assert np.abs(audio[:first]).max() < 1e-6
    for part in score.parts:
        start = round(min(n.start for n in part.notes) * SR)
        got = onset(parts[part.family])
        assert start <= got <= start + round(0.005 * SR), (part.family, (got - start) / SR)


@pytest.mark.parametrize("family, program, pitch", [("piano", 0, 60), ("strings", 48, 55),
                                                     ("woodwinds", 73, 72), ("drums", -1, 38)])
def test_a_note_sounds_at_its_sample(family: str, program: int, pitch: int) -> None:
    start = 0.6137  # not on a block boundary of the synth
    score = one_part(family, program=program, notes=[ScoreNote(start, start + 0.4, pitch, 100)],
                     duration=1.5, role="drums" if program < 0 else "melody")
    audio = render_score(score, sr=SR, soundfont=SF)
    i0 = round(start * SR)
    assert np.abs(audio[:i0]).max() < 1e-6
    assert i0 <= onset(audio) <= i0 + round(0.005 * SR)


def test_stage_pans_left_and_right_with_constant_power(band) -> None:
    _, _, parts = band
    assert db(parts["strings"][:, 0], parts["strings"][:, 1]) > 4.0  # strings at -0.45
    assert db(parts["piano"][:, 0], parts["piano"][:, 1]) > 1.5  # piano at -0.2
    for centred in ("bass", "drums"):
        assert abs(db(parts[centred][:, 0], parts[centred][:, 1])) < 1.0, centred
    brass = render_score(one_part("brass", program=61, notes=[ScoreNote(0.2, 1.2, 60, 100)], duration=1.5),
                         sr=SR, soundfont=SF)
    assert db(brass[:, 1], brass[:, 0]) > 4.0  # brass at +0.45
    assert set(STAGE) == set(FAMILY_NAMES) and all(-1 <= x <= 1 for x in STAGE.values())


def test_the_room_makes_a_centred_part_stereo_but_light() -> None:
    notes = [ScoreNote(0.25 + 0.5 * k, 0.7 + 0.5 * k, 36 + 2 * k, 92) for k in range(4)]
    audio = render_score(one_part("bass", program=33, notes=notes, role="bass", duration=2.5),
                         sr=SR, soundfont=SF)
    left, right = audio[:, 0], audio[:, 1]
    assert not np.allclose(left, right, atol=1e-4)
    assert -30.0 < db(left - right, left + right) < -8.0  # side vs mid: a room, not a wide mix


def test_the_drum_part_plays_the_kit() -> None:
    """A closed hi-hat (key 42 on the kit, bank 128) is bright; key 42 on the piano is not."""
    def centroid(a: np.ndarray) -> float:
        mag = np.abs(np.fft.rfft(a.mean(axis=1)))
        return float((mag * np.fft.rfftfreq(len(a), 1 / SR)).sum() / mag.sum())

    hat = render_score(one_part("drums", program=-1, notes=[ScoreNote(0.2, 0.3, 42, 100)], role="drums",
                                duration=1.0), sr=SR, soundfont=SF)
    piano = render_score(one_part("piano", program=0, notes=[ScoreNote(0.2, 0.3, 42, 100)], duration=1.0),
                         sr=SR, soundfont=SF)
    assert np.abs(hat).max() > 0.01
    assert centroid(hat) > 4000.0 and centroid(piano) < 1500.0, (centroid(hat), centroid(piano))


def test_half_gain_is_six_db_quieter() -> None:
    notes = [ScoreNote(0.1, 0.9, 60, 100), ScoreNote(0.5, 1.2, 64, 80)]
    full, half = (render_score(one_part("guitar", program=24, notes=notes, gain=g, duration=1.5),
                               sr=SR, soundfont=SF) for g in (1.0, 0.5))
    assert db(half, full) == pytest.approx(-6.02, abs=1.5)


def test_a_loud_sum_is_scaled_to_the_peak_not_clipped() -> None:
    chord = [ScoreNote(0.1, 1.0, p, 127) for p in (48, 52, 55, 60, 64, 67, 72)]
    score = Score(grid=band_score().grid, key=0, mode="major", duration=1.2,
                  parts=[Part(f, "chords", 48, chord, gain=8.0) for f in ("strings", "brass", "organ")])
    audio, parts = render_score(score, sr=SR, soundfont=SF, parts=True)
    assert np.abs(audio).max() == pytest.approx(PEAK, abs=1e-4)
    np.testing.assert_allclose(np.sum(list(parts.values()), axis=0), audio, atol=1e-5)


def test_a_score_without_notes_is_an_input_error() -> None:
    empty = one_part("piano", program=0, notes=[])
    with pytest.raises(InputError, match="no notes"):
        render_score(empty, soundfont=SF)


def test_soundfont_errors_name_the_install_step(monkeypatch, tmp_path) -> None:
    with pytest.raises(InputError, match="unknown soundfont 'nope'.*apt-get install fluid-soundfont-gm"):
        render_score(band_score(duration=1.0), soundfont="nope")
    paths = {**soundfonts.soundfont_paths(), "fluidr3": tmp_path / "FluidR3_GM.sf2"}
    monkeypatch.setattr(soundfonts, "soundfont_paths", lambda: paths)
    with pytest.raises(InputError, match="not found.*apt-get install fluid-soundfont-gm"):
        render_score(band_score(duration=1.0), soundfont="fluidr3")


def test_default_soundfont_is_fluidr3_where_installed(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(soundfonts, "_FLUIDR3", tmp_path / "absent.sf2")
    assert soundfonts.default_soundfont() == "timgm6mb"
    present = tmp_path / "FluidR3_GM.sf2"
    present.write_bytes(b"x")
    monkeypatch.setattr(soundfonts, "_FLUIDR3", present)
    assert soundfonts.default_soundfont() == "fluidr3"
