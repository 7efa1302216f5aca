"""Recorded effects: the bundled library (files, licences, size), and the render that plays a
generated effects stem with it (onsets on the picture's events, kind, level, decay, 48 kHz)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundtrack.audio.onsets import effect_onsets
from soundtrack.errors import InputError
from soundtrack.pipeline.mixdown import effects_stem, mix_take
from soundtrack.pipeline.settings import Settings
from soundtrack.render.effects import LIBRARY_DIR, level_and_decay, load_library, render_effects
from soundtrack.video.features import VisualEvent

ROOT = Path(__file__).resolve().parents[2]
SR16, SR48 = 16_000, 48_000


def bursts(times: list[float], *, levels: list[float], decays: list[float], seconds: float = 4.0,
           seed: int = 0) -> np.ndarray:
    """(T16,) noise bursts with a sharp attack at `times`, exponential decays (s to -26 dB), as the
    neural engine's effects stem sounds."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SR16), np.float32)
    for t, a, d in zip(times, levels, decays):
        n = int(0.6 * SR16)
        env = a * np.exp(-3.0 * np.arange(n) / (d * SR16))
        i = int(t * SR16)
        out[i:i + n] += (env * rng.standard_normal(n)).astype(np.float32)[:len(out) - i]
    return out


def test_library_is_bundled_credited_and_small():
    index = json.loads((LIBRARY_DIR / "index.json").read_text())
    files = sorted(p.name for p in LIBRARY_DIR.glob("*.ogg"))
    assert sorted(e["file"] for e in index["recordings"]) == files and len(files) >= 12
    assert {e["kind"] for e in index["recordings"]} == {"impact", "flash", "cut"}
    credits = (ROOT / "assets" / "CREDITS.md").read_text()
    for e in index["recordings"]:
        assert e["licence"] and e["package"] and e["file"] in credits, e
        info = sf.info(LIBRARY_DIR / e["file"])
        assert (info.samplerate, info.channels) == (SR48, 1) and info.duration <= 1.0 + 1e-3
    assert sum(p.stat().st_size for p in LIBRARY_DIR.iterdir()) < 25e6


def test_recordings_start_on_their_onset():
    for rec in load_library():
        env = np.abs(rec.audio)
        first = int(np.argmax(env > 0.1 * env.max()))
        assert first == pytest.approx(48, abs=20), rec.name  # the audible onset 1 ms in (Vorbis: +-0.4 ms)


def test_render_lands_on_picture_events_with_their_kind():
    # generated onsets 40 ms late for two events, one on time, one effect where the picture has none
    sfx16 = bursts([0.54, 1.5, 2.24, 3.2], levels=[0.5, 0.5, 0.5, 0.5], decays=[0.05, 0.3, 0.1, 0.1])
    events = [VisualEvent(0.5, "impact", 0.2, 1.0), VisualEvent(1.5, "cut", 0.5, 1.0),
              VisualEvent(2.2, "flash", 0.5, 1.0)]
    sfx48, placed = render_effects(sfx16, events=events, n_out=4 * SR48)
    assert sfx48.shape == (4 * SR48,) and sfx48.dtype == np.float32
    assert [p.time_s for p in placed[:3]] == [0.5, 1.5, 2.2] and all(p.snapped for p in placed[:3])
    assert [p.kind for p in placed[:3]] == ["impact", "cut", "flash"]
    assert placed[3].time_s == pytest.approx(3.2, abs=0.03) and not placed[3].snapped
    # the rendered stem's onsets, as librosa hears them, are the placements (+-20 ms)
    heard = effect_onsets(sfx48, SR48)
    for p in placed:
        assert np.min(np.abs(heard - p.time_s)) <= 0.02, (p, heard)
    # the sample just before each placement is silent: the onset is exactly there
    for p in placed:
        i = int(round(p.time_s * SR48))
        assert np.abs(sfx48[i - 60:i - 50]).max() < 1e-3 * np.abs(sfx48[i:i + 4800]).max()


def test_render_follows_generated_level_and_decay():
    sfx16 = bursts([0.5, 1.5, 2.5], levels=[0.1, 0.8, 0.8], decays=[0.1, 0.1, 0.4])
    events = [VisualEvent(t, "impact", 0.5, 1.0) for t in (0.5, 1.5, 2.5)]
    sfx48, placed = render_effects(sfx16, events=events, n_out=4 * SR48)
    seg = [sfx48[int(t * SR48):int((t + 0.9) * SR48)] for t in (0.5, 1.5, 2.5)]
    lv = [level_and_decay(s, SR48) for s in seg]
    assert 20 * np.log10(lv[1][0] / lv[0][0]) == pytest.approx(18.1, abs=3.0)  # 0.8 / 0.1
    assert placed[2].decay_s > 2 * placed[1].decay_s
    assert lv[2][1] > lv[1][1]  # a longer generated decay rings longer
    assert len({p.recording for p in placed}) == 3  # a row of impacts is not one sample repeated


def test_silence_renders_silence():
    sfx48, placed = render_effects(np.zeros(2 * SR16, np.float32), events=[], n_out=2 * SR48)
    assert placed == [] and not sfx48.any()


def test_recorded_stem_mixes_to_loudness_and_true_peak():
    sfx16 = bursts([0.5, 1.5, 2.5], levels=[0.5] * 3, decays=[0.1] * 3)
    events = [VisualEvent(t, "impact", x, 1.0) for t, x in ((0.5, 0.0), (1.5, 1.0), (2.5, 0.5))]
    fx = effects_stem(sfx16, events=events, effects="recorded")
    assert fx.sfx16.shape == sfx16.shape and fx.sfx48.shape == (4 * SR48,) and fx.neural16 is sfx16
    music = (0.1 * np.sin(2 * np.pi * 220 * np.arange(4 * SR16) / SR16)).astype(np.float32)
    mix = mix_take(music, fx.sfx16, events=events, balance=0.5, sfx48=fx.sfx48)
    assert mix.mix.shape == (2, 4 * SR48)
    assert mix.mix_lufs == pytest.approx(-16.0, abs=0.5) and mix.mix_dbtp <= -1.0 + 1e-3
    left = mix.sfx[0, int(0.52 * SR48):int(0.9 * SR48)]  # the first effect is panned hard left
    right = mix.sfx[1, int(0.52 * SR48):int(0.9 * SR48)]  # (after the pan curve's 10 ms crossfade)
    assert np.abs(left).max() > 100 * np.abs(right).max()
    assert effects_stem(sfx16, events=events, effects="neural").sfx48 is None


def test_settings_carry_effects_and_original():
    s = Settings(effects="recorded", original="keep", original_db=-6)
    assert Settings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    for bad, msg in (({"effects": "foley"}, "effects must be one of recorded, neural"),
                     ({"original": "mute"}, "original must be one of replace, keep"),
                     ({"original_db": 40}, "original_db must be between")):
        with pytest.raises(InputError, match=msg) as e:
            Settings(**bad)
        assert "\n" not in str(e.value)
