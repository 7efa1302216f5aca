"""The studio's work without a browser: controls <-> settings, and the live loop (tiny model)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from soundtrack.errors import InputError
from soundtrack.music.families import FAMILY_NAMES
from soundtrack.pipeline import Settings
from soundtrack.pipeline.settings import read_settings_json, write_settings_json
from soundtrack.studio import controls, live
from soundtrack.studio.state import ENGINE_VARIANTS, StudioState

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "assets" / "night-hits.mp4"  # 8.0 s
FAST = {"steps": 2, "snio_iters": 1}


def test_importing_the_studio_package_loads_neither_gradio_nor_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, soundtrack.studio, soundtrack.studio.ab; "
            "print(sorted(m for m in ('gradio', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("settings", [
    Settings(),
    Settings(tempo=117.5, instruments={"mallets": 0.35, "synth": 1.0}, balance=0.85, intensity=0.62, key="F#",
             mode="minor", seed=123456, steps=25, guidance=4.5, snio_iters=0),
])
def test_controls_show_settings_exactly(settings: Settings) -> None:
    values = controls.controls_from_settings(settings)
    assert set(values) == set(controls.CONTROL_NAMES)
    assert controls.settings_from_controls(values) == settings
    for f in FAMILY_NAMES:  # one row per family: on with its level, or off at level 0 (never 1)
        assert (values[controls.on_name(f)], values[controls.level_name(f)]) == (
            (True, settings.instruments[f]) if f in settings.instruments else (False, 0.0))


def test_ensembles_are_valid_instrumentations_and_are_recognised() -> None:
    for name, instruments in controls.ENSEMBLES.items():
        values = {**controls.default_controls(), **controls.family_controls(instruments)}
        made = controls.settings_from_controls(values).instruments
        assert made == Settings(instruments=instruments).instruments
        assert controls.ensemble_of(instruments) == name
    assert controls.ensemble_of(Settings().instruments) == "default"
    assert controls.ensemble_of({"piano": 1.0, "drums": 0.3}) is None  # a custom one
    assert controls.instruments_in_words({"piano": 1.0, "strings": 0.7}) == "piano, strings 0.7"


def test_controls_refuse_what_settings_refuse() -> None:
    values = controls.default_controls()
    all_off = {controls.on_name(f): False for f in FAMILY_NAMES}
    with pytest.raises(InputError, match="turn on at least one instrument family"):
        controls.settings_from_controls({**values, **all_off})
    with pytest.raises(InputError, match="piano is on at level 0"):
        controls.settings_from_controls({**values, "level_piano": 0.0})
    with pytest.raises(InputError, match="seed must be between 0 and"):
        controls.settings_from_controls({**values, "seed": -4.0})
    s = controls.settings_from_controls({**values, "seed": 7.0, "steps": 12.0})  # number boxes give floats
    assert (s.seed, s.steps) == (7, 12)


def test_settings_json_round_trip_and_cli_format(tmp_path: Path) -> None:
    from soundtrack.cli import build_parser, settings_from_args

    s = Settings(tempo=96, instruments={"piano": 1.0, "strings": 0.4}, seed=42, key="Bb", mode="minor")
    path = write_settings_json(tmp_path / "settings.json", s, video="clip.mp4", take=3, warm_start=True)
    assert read_settings_json(path) == (s, "clip.mp4", True, None)
    doc = json.loads(path.read_text())
    assert doc["take"] == 3 and doc["warm_start"] is True and doc["settings"]["key"] == "A#"
    # the CLI reads the same file
    args = build_parser().parse_args(["clip.mp4", "--out", str(tmp_path / "out"), "--settings", str(path)])
    assert settings_from_args(args) == s
    # a bare Settings.to_dict() is accepted too; anything else is one clear line
    (tmp_path / "bare.json").write_text(json.dumps(s.to_dict()))
    assert read_settings_json(tmp_path / "bare.json") == (s, None, False, None)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="bad.json: not a settings JSON"):
        read_settings_json(tmp_path / "bad.json")
    (tmp_path / "odd.json").write_text(json.dumps({"settings": {"tempo": 100, "swing": 0.3}}))
    with pytest.raises(InputError, match="unknown setting swing"):
        read_settings_json(tmp_path / "odd.json")


def test_a_newer_request_supersedes_queued_and_running_runs(tmp_path: Path) -> None:
    session = live.Session(tmp_path)
    first = session.request()
    second = session.request()
    assert session.claim(first) is None  # superseded while queued: never starts
    cancel = session.claim(second)
    assert cancel is not None and not cancel.is_set() and session.started
    session.request()  # a control moved: the running run is told to stop
    assert cancel.is_set()
    session.release(cancel)
    assert not session.started  # no take yet, nothing in flight


def test_warm_up_loads_the_model_at_start_and_is_quiet_without_one(tiny_checkpoints: Path,
                                                                    tmp_path: Path) -> None:
    assert StudioState(checkpoints=tmp_path / "no-model").warm_up() is False  # the studio still starts
    studio = StudioState(checkpoints=tiny_checkpoints)
    default = ENGINE_VARIANTS[studio.default_engine()]  # the default engine's pipeline
    assert not studio.loaded(default)
    assert studio.warm_up() is True
    assert studio.loaded(default)  # the first take finds it loaded
    assert not StudioState(checkpoints=tiny_checkpoints).loaded(default)  # no process-wide cache


def test_the_state_reads_its_folders_from_the_environment_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOUNDTRACK_CHECKPOINTS", str(tmp_path / "models"))
    monkeypatch.setenv("SOUNDTRACK_STUDIO_DIR", str(tmp_path / "takes"))
    monkeypatch.setenv("SOUNDTRACK_AB_DB", str(tmp_path / "votes.sqlite"))
    studio = StudioState()
    monkeypatch.setenv("SOUNDTRACK_STUDIO_DIR", str(tmp_path / "elsewhere"))
    assert (studio.checkpoints, studio.takes_dir, studio.ab_db) == (tmp_path / "models", tmp_path / "takes",
                                                                   tmp_path / "votes.sqlite")
    assert studio.media_dir == tmp_path / "votes-media"


@pytest.fixture()
def studio_env(tiny_checkpoints: Path, tmp_path: Path):
    """A folder for everything the studio writes, and the StudioState that writes there."""
    return tmp_path


@pytest.fixture()
def studio(studio_env: Path, tiny_checkpoints: Path) -> StudioState:
    return StudioState(checkpoints=tiny_checkpoints, takes_dir=studio_env / "takes",
                       ab_db=studio_env / "ab.sqlite")


def _run(studio: StudioState, session: live.Session, settings: Settings, *, warm: bool) -> list[live.Frame]:
    return list(live.run(studio, session, session.request(), CLIP, settings, warm=warm))


def test_live_loop_previews_every_iteration_then_writes_a_reproducible_take(studio_env, studio) -> None:
    import soundfile as sf

    session = live.Session(studio.takes_dir)
    settings = Settings(seed=5, tempo=110, **FAST)
    frames = _run(studio, session, settings, warm=False)
    kinds = [f.kind for f in frames]
    # the video analysed, SNIO iterations 0 and 1, the sample, the take
    assert kinds == ["started", "preview", "preview", "preview", "take"]
    assert (frames[0].tempo_bpm, frames[0].tempo_auto) == (110, False)
    for f in frames[1:-1]:
        assert f.spectrogram.is_file() and f.spectrogram.stat().st_size > 10_000
        sr, wave = f.audio
        assert sr == 16000 and wave.dtype == np.int16 and len(wave) == 8 * 16000
    assert {r["iteration"] for r in frames[2].scores} == {0, 1}
    assert {"total", "tempo", "sync"} <= {r["score"] for r in frames[2].scores}
    take = frames[-1].take
    assert set(take.files) == {"music.wav", "sfx.wav", "mix.wav", "soundtrack.mp4", "spectrogram.png",
                               "report.json", "settings.json"} | ({"music.mid"} if take.engine == "score" else set())
    assert take.number == 1 and take.warm_from is None and "Take 1" in frames[-1].status
    # the summary names the instruments and says what each score measures, in units
    assert "piano, bass 0.8, strings 0.7, drums 0.8" in frames[-1].status, frames[-1].status
    details = frames[-1].details
    assert "off by" in details and "BPM" in details and " dB" in details and "matched" in details, details
    assert take.measures.events == take.report["video"]["events"]
    assert 0 <= take.measures.hits <= take.measures.events
    assert take.measures.heard is not None and set(take.measures.heard) <= set(FAMILY_NAMES)
    # the report names its models (folder@hash), with no server path anywhere in it
    assert all(re.fullmatch(r"[a-z-]+@[0-9a-f]{10}", name) for name in take.report["models"].values())
    assert str(studio.checkpoints) not in take.files["report.json"].read_text()
    # the downloaded settings, restored and generated again from the seed: the same audio
    restored, video, warm, remixed = read_settings_json(take.files["settings.json"])
    assert (restored, video, warm, remixed) == (settings, CLIP.name, False, None)
    again = _run(studio, live.Session(studio.takes_dir), restored, warm=False)[-1].take
    a, _ = sf.read(take.files["mix.wav"])
    b, _ = sf.read(again.files["mix.wav"])
    assert a.shape == b.shape and np.array_equal(a, b)


def test_a_take_of_a_video_without_events_says_its_effects_follow_nothing(studio_env, studio) -> None:
    hint = "No cuts, flashes or impacts were found"
    with_events = _run(studio, live.Session(studio.takes_dir), Settings(seed=1, **FAST), warm=False)[-1]
    assert with_events.take.report["video"]["events"] > 0 and hint not in with_events.details
    session = live.Session(studio.takes_dir)
    frames = list(live.run(studio, session, session.request(), ROOT / "assets" / "bigbuckbunny.mp4",
                           Settings(seed=1, **FAST), warm=False))
    assert frames[-1].take.report["video"]["events"] == 0 and hint in frames[-1].details


def test_moving_a_control_reoptimises_the_last_take_warm(studio_env, studio) -> None:
    import torch

    session = live.Session(studio.takes_dir)
    first = _run(studio, session, Settings(seed=2, **FAST), warm=True)[-1].take  # nothing to warm from yet
    assert first.warm_from is None
    moved = Settings(seed=2, intensity=0.65, **FAST)
    frames = _run(studio, session, moved, warm=True)
    second = frames[-1].take
    assert second.warm_from == 1 and "warm start from take 1" in frames[0].status
    assert json.loads(second.files["settings.json"].read_text())["warm_start"] is True
    cold = _run(studio, live.Session(studio.takes_dir), moved, warm=False)[-1].take
    # warm: SNIO went on from the first take's noise, so the optimised noise differs from a cold start
    assert not torch.equal(second.snio_offsets[0], cold.snio_offsets[0])
    # the same settings again: nothing to do
    assert [f.kind for f in _run(studio, session, moved, warm=True)] == ["unchanged"]
    # another seed starts from that seed's noise even when warm
    assert _run(studio, session, Settings(seed=9, **FAST), warm=True)[-1].take.warm_from is None


def test_moving_only_the_balance_remixes_the_last_takes_stems(studio_env, studio) -> None:
    """DECISIONS #36: the mixer meets the slider exactly, so a balance move needs no generation."""
    import soundfile as sf

    from soundtrack.audio.mix import loudness_lufs

    session = live.Session(studio.takes_dir)
    first = _run(studio, session, Settings(seed=4, **FAST), warm=False)[-1].take
    frames = _run(studio, session, Settings(seed=4, balance=0.8, **FAST), warm=True)
    assert [f.kind for f in frames] == ["take"]  # no SNIO iteration, no sampler step
    second = frames[0].take
    assert second.remixed_from == 1 and second.warm_from is None and "stems of take 1" in frames[0].status
    assert second.scores == first.scores and frames[0].scores == first.scores  # the plots stay
    assert second.report["remixed_from_balance"] == 0.5 and second.report["settings"]["balance"] == 0.8
    saved = json.loads(second.files["settings.json"].read_text())
    assert saved["remixed_from"] == 1 and saved["settings"]["balance"] == 0.8
    assert read_settings_json(second.files["settings.json"]).remixed_from == 1
    # the same stems, mixed 12 dB apart as the slider asks (20 log10(0.8 / 0.2))
    music, sr = sf.read(second.files["music.wav"])
    sfx, _ = sf.read(second.files["sfx.wav"])
    old_music, _ = sf.read(first.files["music.wav"])
    assert np.corrcoef(music[:, 0], old_music[:, 0])[0, 1] > 0.999
    assert abs(loudness_lufs(sfx.T, sr) - loudness_lufs(music.T, sr) - 20 * np.log10(4)) < 0.5
    assert first.take is None and second.take is not None  # only the last take keeps its stems
    # a re-mix of a re-mix still names the generation's balance; another control generates again
    third = _run(studio, session, Settings(seed=4, balance=0.3, **FAST), warm=True)[-1].take
    assert third.remixed_from == 2 and third.report["remixed_from_balance"] == 0.5
    fourth = _run(studio, session, Settings(seed=4, balance=0.3, tempo=90, **FAST), warm=True)[-1].take
    assert fourth.remixed_from is None and fourth.warm_from == 3


def test_a_balance_move_is_heard_before_its_take_is_written(studio_env, studio) -> None:
    """quick_remix: the last take's stems at the new balance at once (the page plays it while the take's
    files are written), levelled as the mixer levels them."""
    session = live.Session(studio.takes_dir)
    _run(studio, session, Settings(seed=4, **FAST), warm=False)
    moved = Settings(seed=4, balance=0.8, **FAST)
    assert live.quick_remix(session, live.Job(CLIP, Settings(seed=4, tempo=90, **FAST), warm=True)) is None
    assert live.quick_remix(session, live.Job(CLIP, moved, warm=False)) is None  # Generate: from the seed
    frame = live.quick_remix(session, live.Job(CLIP, moved, warm=True))
    sr, wave = frame.audio
    assert frame.kind == "remixing" and sr == 16000 and wave.dtype == np.int16 and len(wave) == 8 * 16000
    # the preview is the two stems weighted as the mixer weights them: effects 12 dB over the music
    last = session.last_take
    take = last.take
    music, sfx = live.balance_preview(last, 0.0)[1], live.balance_preview(last, 1.0)[1]
    assert np.corrcoef(music.astype(float), take.music16)[0, 1] > 0.99
    assert np.corrcoef(sfx.astype(float), take.sfx16)[0, 1] > 0.99
    _, at_08 = live.balance_preview(last, 0.8)
    fit = np.linalg.lstsq(np.stack([music, sfx], 1).astype(float), at_08.astype(float), rcond=None)[0]
    assert 20 * np.log10(fit[1] / fit[0]) == pytest.approx(20 * np.log10(0.8 / 0.2), abs=0.2)


def test_a_newer_request_stops_the_run_in_flight(studio_env, studio) -> None:
    session = live.Session(studio.takes_dir)
    frames = []
    for frame in live.run(studio, session, session.request(), CLIP, Settings(seed=1, **FAST), warm=False):
        frames.append(frame)
        if frame.kind == "preview":
            session.request()  # as if a slider moved during the first SNIO iteration
    assert [f.kind for f in frames] == ["started", "preview", "stopped"]
    assert not session.takes and not session.started


def test_follow_goes_on_with_the_newest_settings_when_changes_stop_its_run(studio_env, studio) -> None:
    """Latest wins (issue 18): changes during a run stop it, and the last of them runs to a take."""
    session = live.Session(studio.takes_dir)
    session.request(live.Job(CLIP, Settings(seed=1, **FAST), warm=False))
    last = Settings(seed=1, instruments={"piano": 1.0, "brass": 0.5}, **FAST)
    frames = []
    for frame in live.follow(studio, session):
        frames.append(frame)
        if len(frames) == 2:  # three quick changes while the first preview shows
            for s in (Settings(seed=1, intensity=0.7, **FAST), Settings(seed=1, tempo=90, **FAST), last):
                session.request(live.Job(CLIP, s, warm=True))
    kinds = [f.kind for f in frames]
    assert kinds[:3] == ["started", "preview", "restart"] and kinds[-1] == "take", kinds
    assert "stopped" not in kinds, kinds
    assert [t.settings for t in session.takes] == [last] and not session.running
    assert list(live.follow(studio, session)) == []  # nothing is waiting: another handler ran it

    # Stop forgets the wanted job; the run says why it stopped
    session.request(live.Job(CLIP, Settings(seed=2, **FAST), warm=False))
    frames = []
    for frame in live.follow(studio, session):
        frames.append(frame)
        if len(frames) == 2:
            session.stop(why="⚠️ Turn on at least one instrument family")
    assert [f.kind for f in frames] == ["started", "preview", "stopped"] and "family" in frames[-1].status
    assert len(session.takes) == 1 and session.pending() is None


def test_a_session_keeps_its_last_takes_only(studio_env, studio) -> None:
    session = live.Session(studio.takes_dir)
    dirs = []
    for seed in range(live.KEEP_TAKES + 1):
        settings = Settings(seed=seed, steps=1, snio_iters=0)
        dirs.append(_run(studio, session, settings, warm=False)[-1].take.dir)
    assert [t.number for t in session.takes] == list(range(2, live.KEEP_TAKES + 2))
    assert not dirs[0].exists() and all(d.is_dir() for d in dirs[1:])
    session.close()
    assert not session.dir.exists()


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    studio = StudioState(checkpoints=tmp_path / "nothing", takes_dir=tmp_path / "takes")
    with pytest.raises(InputError, match="the model is not installed: no trained vae"):
        _run(studio, live.Session(studio.takes_dir), Settings(**FAST), warm=False)


def test_ab_pairs_from_takes_and_from_the_sdma_ablation(studio_env, studio) -> None:
    from soundtrack.studio import listening

    session = live.Session(studio.takes_dir)
    _run(studio, session, Settings(seed=4, **FAST), warm=False)
    with pytest.raises(InputError, match="make two takes of the same video first"):
        listening.pair_from_takes(studio, session)
    _run(studio, session, Settings(seed=4, balance=0.2, **FAST), warm=True)
    takes = listening.pair_from_takes(studio, session)
    assert (takes.comparison, takes.a_label, takes.b_label) == (listening.TAKES, "newer take", "older take")
    assert takes.a_settings["take"] == 2 and takes.b_settings["take"] == 1
    assert takes.a_settings["balance"] == 0.2
    # the pair keeps its own copies: they outlive the session's takes
    assert all(Path(m).parent == studio.media_dir and Path(m).is_file()
               for m in (takes.a_media, takes.b_media))

    assert listening.comparisons_available(studio) == [listening.TAKES, listening.SDMA, listening.ENGINES]
    sdma = listening.pair_from_models(studio, CLIP, Settings(seed=4, **FAST), studio_env / "render")
    assert re.fullmatch(r"ldm@[0-9a-f]{10}", sdma.a_settings["model"])  # named and hashed, never a path
    assert re.fullmatch(r"ldm-nosdma@[0-9a-f]{10}", sdma.b_settings["model"])
    assert Path(sdma.a_media).read_bytes() != Path(sdma.b_media).read_bytes()
    assert not (studio_env / "render").exists()

    # a listener judges both; the table and the CSV count the votes by condition
    store = studio.store()
    assert listening.next_pair(studio, "listener").id == takes.id
    store.vote(takes.id, takes.choice_for("A"), voter="listener")
    assert listening.next_pair(studio, "listener").id == sdma.id
    store.vote(sdma.id, "none", comment="same to me", voter="listener")
    assert listening.next_pair(studio, "listener") is None
    rows = {r[0]: r for r in listening.result_rows(studio)}
    assert rows[listening.TAKES][3:] == [1, 1, 0, 0, "100%", "21-100%"]
    assert rows[listening.SDMA][3:] == [1, 0, 0, 1, "n/a", "n/a"]
    csv = listening.export_csv(studio, studio_env / "csv").read_text()
    assert csv.count("\n") == 3 and "same to me" in csv


def test_a_long_video_previews_its_first_window_at_every_iteration_then_once_per_window(studio_env, studio,
                                                                                       tmp_path) -> None:
    """live.PREVIEWS: after the first window, SNIO iterations update the status and the score curves
    only (no vocoder pass, no picture), so a long take in the studio costs what `generate` costs."""
    from tests.test_generate import flashing_video

    video = flashing_video(tmp_path / "long.mp4", 12.0)  # two windows
    session = live.Session(studio.takes_dir)
    settings = Settings(seed=2, tempo=100, **FAST)
    frames = list(live.run(studio, session, session.request(), video, settings, warm=False))
    kinds = [f.kind for f in frames]
    # window 1: SNIO iterations 0, 1 and the sample previewed; window 2: iterations as progress, the sample
    assert kinds == ["started", "preview", "preview", "preview", "progress", "progress", "preview", "take"]
    assert all(f.spectrogram is None and f.audio is None for f in frames if f.kind == "progress")
    assert {r["window"] for r in frames[5].scores} == {"window 1", "window 2"}  # every window's curves
