"""The two engines in the studio (issues 17 and 18), tiny random models: the engine choice and what
each take has, the score engine's previews, re-orchestration, the API's engine, the A/B engine
comparison, and a model folder without the score model. The browser test uses the real server and
Chromium of test_browser.py."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from soundtrack.config import DEFAULT_ENGINE
from soundtrack.errors import InputError
from soundtrack.models.checkpoint import FOLDERS
from soundtrack.pipeline import Settings
from soundtrack.studio import listening, live, retake
from soundtrack.studio.score_tab import SCORES
from soundtrack.studio.state import StudioState
from soundtrack.studio.summary import CURVES
from tests.studio.test_browser import _open, _wait_text, browser, expect  # noqa: F401 (a fixture)

FAST = {"steps": 2, "snio_iters": 1}
BAND = {"piano": 1.0, "strings": 0.6, "drums": 1.0}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 3 s procedural clip with events: one window, a take in seconds."""
    from soundtrack.evaluation.bench import procedural_video

    return procedural_video(tmp_path_factory.mktemp("engines-clip") / "clip.mp4", 3.0)


@pytest.fixture()
def studio(tiny_checkpoints: Path, tmp_path: Path) -> StudioState:
    return StudioState(checkpoints=tiny_checkpoints, takes_dir=tmp_path / "takes",
                       ab_db=tmp_path / "ab.sqlite")


def _without(tiny_checkpoints: Path, root: Path, *missing: str) -> Path:
    """A model folder holding the tiny models but `missing` (links, nothing copied)."""
    root.mkdir()
    for run in tiny_checkpoints.iterdir():
        if run.name not in {FOLDERS[m] for m in missing}:
            os.symlink(run, root / run.name)
    return root


def _run(studio, session, clip, settings, *, warm: bool, engine: str) -> list[live.Frame]:
    return list(live.run(studio, session, session.request(), clip, settings, warm=warm, engine=engine))


def test_each_engine_makes_its_own_takes_and_a_change_of_engine_starts_afresh(studio, clip) -> None:
    session = live.Session(studio.takes_dir)
    settings = Settings(seed=3, tempo=120, instruments=BAND, **FAST)
    frames = _run(studio, session, clip, settings, warm=False, engine="score")
    score = frames[-1].take
    assert [f.kind for f in frames] == ["started", "preview", "preview", "preview", "take"]
    assert "music.mid" in score.files and score.files["music.mid"].stat().st_size > 0
    assert score.engine == "score" and score.report["score"]["notes"] > 0
    assert re.fullmatch(r"score@[0-9a-f]{10}", score.report["models"]["ldm"])  # the score model, named
    assert "| Engine | score: notes played by sampled instruments |" in frames[-1].details
    assert f"soundfont {score.report['score']['soundfont']}" in frames[-1].details
    # SNIO's previews play the effects and say so; the sampled window's plays its notes, drawn below
    snio, sampled = frames[1:3], frames[3]
    assert all(live.NOTES_LATER in f.status for f in snio) and live.NOTES_LATER not in sampled.status
    heights = [Image.open(f.spectrogram).height for f in frames[1:4]]
    assert heights[0] == heights[1] < heights[2], heights  # a fourth panel: the window's notes
    assert Image.open(score.files["spectrogram.png"]).height > 600  # the take's picture has its piano roll
    # the studio draws a curve, in words and units, for every score the score engine's SNIO climbs
    climbed = {r["score"] for r in frames[-1].scores}
    assert "presence" in climbed and climbed <= set(CURVES) == set(SCORES), climbed

    # another engine, warm: a fresh take from the seed (the latents of two engines are not alike)
    frames = _run(studio, session, clip, settings, warm=True, engine="neural")
    neural = frames[-1].take
    assert frames[0].kind == "started" and neural.warm_from is None and neural.engine == "neural"
    assert "music.mid" not in neural.files
    assert "Engine | neural: audio written by the model" in frames[-1].details
    # the same engine again, another intensity: warm from the last take of that engine and video
    moved = Settings(seed=3, tempo=120, instruments=BAND, intensity=0.7, **FAST)
    assert _run(studio, session, clip, moved, warm=True, engine="neural")[-1].take.warm_from == neural.number
    # a balance move of a neural take asked for the score engine is not a re-mix
    assert retake.quick_remix(session, live.Job(clip, Settings(**{**moved.to_dict(), "balance": 0.8}),
                                                warm=True, engine="score")) is None
    with pytest.raises(InputError, match=r"^engine must be one of neural, score, got 'midi'$"):
        _run(studio, session, clip, settings, warm=False, engine="midi")


def test_reorchestration_plays_the_notes_on_another_family_as_a_new_take(studio, clip) -> None:
    session = live.Session(studio.takes_dir)
    first = _run(studio, session, clip, Settings(seed=1, tempo=120, instruments=BAND, **FAST), warm=False,
                 engine="score")[-1].take
    assert "piano" in first.report["score"]["families"]
    # any other change is heard at once from these notes (retake.quick_sketch), from the playhead
    faster = Settings(seed=1, tempo=150, key="D", instruments={"brass": 1.0, "drums": 1.0}, **FAST)
    sketch = retake.quick_sketch(studio, session, live.Job(clip, faster, warm=True, engine="score",
                                                           playhead_s=1.0))
    assert sketch.kind == "sketch" and "from 1 s" in sketch.status and "150 BPM in D major" in sketch.status
    assert "brass" in sketch.status and "piano" not in sketch.status
    rate, audio = sketch.audio
    assert rate == 16000 and len(audio) == 2 * 16000 and np.abs(audio).max() > 1000  # 1 s to the end
    balance = Settings(**{**first.settings.to_dict(), "balance": 0.8})
    for job in (live.Job(clip, faster, warm=False, engine="score"),  # Generate: a take from the seed
                live.Job(clip, balance, warm=True, engine="score"),  # a balance move: a re-mix
                live.Job(clip, faster, warm=True, engine="neural")):  # another engine
        assert retake.quick_sketch(studio, session, job) is None
    frame = retake.reorchestrated(studio, session, "piano", "brass")
    second = frame.take
    assert second.number == first.number + 1 and second.dir != first.dir
    assert second.files["music.mid"].is_file()
    families = second.report["score"]["families"]
    assert "brass" in families and "piano" not in families, families
    assert second.report["reorchestrated"] == {"piano": "brass"}
    assert second.reorchestrated_from == first.number
    assert "re-orchestrated (piano part on brass)" in frame.status
    assert first.files["music.wav"].read_bytes() != second.files["music.wav"].read_bytes()
    assert second.report["timings_s"]["render"] < 10.0  # rendered again, not generated (no sampler)
    # a family the take lacks, an unknown one, the same one: one line each, nothing written
    written = sorted(p.name for p in session.dir.iterdir())
    for part, player, words in (("guitar", "brass", "no guitar part"), ("brass", "kazoo", "unknown"),
                                ("brass", "brass", "played by brass already"), (None, "brass", "choose")):
        with pytest.raises(InputError, match=words) as err:
            retake.reorchestrated(studio, session, part, player)
        assert "\n" not in str(err.value)
    assert sorted(p.name for p in session.dir.iterdir()) == written and len(session.takes) == 2
    # a neural take has no notes to move
    _run(studio, session, clip, Settings(seed=1, **FAST), warm=False, engine="neural")
    with pytest.raises(InputError, match="neural engine"):
        retake.reorchestrated(studio, session, "piano", "brass")


def test_the_engine_comparison_is_recorded_like_the_sdma_one(studio, clip, tmp_path) -> None:
    assert listening.comparisons_available(studio) == [listening.TAKES, listening.SDMA, listening.ENGINES]
    pair = listening.pair_from_models(studio, clip, Settings(seed=2, **FAST), tmp_path / "render",
                                      comparison=listening.ENGINES)
    assert (pair.comparison, pair.a_label, pair.b_label) == (listening.ENGINES, "score engine",
                                                             "neural engine")
    assert (pair.a_settings["engine"], pair.b_settings["engine"]) == ("score", "neural")
    assert re.fullmatch(r"score@[0-9a-f]{10}", pair.a_settings["model"])
    assert re.fullmatch(r"ldm@[0-9a-f]{10}", pair.b_settings["model"])
    assert pair.a_settings["seed"] == pair.b_settings["seed"] == 2
    assert Path(pair.a_media).read_bytes() != Path(pair.b_media).read_bytes()
    studio.store().vote(pair.id, pair.choice_for("A"), voter="listener")
    rows = {r[0]: r for r in listening.result_rows(studio)}
    assert rows[listening.ENGINES][1:5] == ["score engine", "neural engine", 1, 1]


def test_without_the_score_model_only_the_neural_engine_is_offered(tiny_checkpoints, tmp_path, clip) -> None:
    studio = StudioState(checkpoints=_without(tiny_checkpoints, tmp_path / "ckpt", "score"),
                         takes_dir=tmp_path / "takes", ab_db=tmp_path / "ab.sqlite")
    assert (studio.engines(), studio.default_engine()) == (["neural"], "neural")
    assert listening.ENGINES not in listening.comparisons_available(studio)
    with pytest.raises(InputError, match=r"^the score engine's model is not installed \(.*score\); "
                                         r"installed: neural$"):
        _run(studio, live.Session(studio.takes_dir), clip, Settings(**FAST), warm=False, engine="score")
    with pytest.raises(InputError, match="needs both models; not installed: checkpoints/score"):
        listening.pair_from_models(studio, clip, Settings(**FAST), tmp_path / "r",
                                   comparison=listening.ENGINES)
    # only the score model: it is the default, and it loads first (its codec and CVSM beside it)
    score_only = _without(tiny_checkpoints, tmp_path / "score-only", "ldm", "ldm-nosdma")
    only_score = StudioState(checkpoints=score_only, takes_dir=tmp_path / "takes2")
    assert (only_score.engines(), only_score.default_engine()) == (["score"], "score")
    assert only_score.warm_up() and only_score.loaded("score")
    assert only_score.pipeline("score").engine == "score"


def test_the_api_generates_with_the_engine_asked_for(server) -> None:
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server.url, verbose=False)
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/generate"]
    params = {p["parameter_name"]: p for p in api["parameters"]}
    assert params["engine"]["parameter_default"] == DEFAULT_ENGINE  # installed
    clip = Path(__file__).resolve().parents[2] / "assets" / "bigbuckbunny.mp4"
    _, _, music, _, report = client.predict(handle_file(str(clip)), engine="score", seed=1, steps=2,
                                            snio_iters=0, api_name="/generate")
    assert report["engine"] == "score" and "music.mid" in report["files"] and report["score"]["notes"] > 0
    assert re.fullmatch(r"score@[0-9a-f]{10}", report["models"]["ldm"])
    for engine, words in (("midi", "engine must be one of neural, score, got 'midi'"),
                          (3, "engine must be one of neural, score, got 3")):
        with pytest.raises(AppError) as err:
            client.predict(handle_file(str(clip)), engine=engine, steps=2, snio_iters=0,
                           api_name="/generate")
        assert words in str(err.value) and "\n" not in str(err.value) and "Traceback" not in str(err.value)


def test_the_score_engine_in_the_browser(server, browser, clip) -> None:  # noqa: F811
    errors: list[str] = []
    page = _open(browser, server, errors=errors)
    page.locator("#video input[type=file]").set_input_files(str(clip))
    page.wait_for_selector("#video video", timeout=30_000)
    for elem_id, value in (("steps", "2"), ("snio-iters", "1")):
        box = page.locator(f"#{elem_id} input[type=number]")
        box.fill(value)
        box.press("Enter")
    engines = {e: page.locator("#engine label", has_text=words) for e, words in
               (("score", "score: notes played by sampled instruments"),
                ("neural", "neural: audio written by the model"))}
    expect(engines[DEFAULT_ENGINE].locator("input")).to_be_checked()  # the default engine
    engines["score"].click()
    page.locator("#generate").click()
    _wait_text(page, "#status", "Take 1")
    expect(page.locator("#download-music-mid")).to_be_visible()
    assert "score: notes played by sampled instruments" in page.locator("#take-details").inner_text()
    expect(page.locator("#reorchestrate-row")).to_be_visible()
    part = page.locator("#reorchestrate-part input").input_value()
    assert part in ("piano", "strings", "bass"), part  # the first family that plays (default instruments)
    expect(page.locator("#reorchestrate-family input")).to_have_value("brass")
    page.locator("#reorchestrate").click()
    _wait_text(page, "#status", "Take 2")
    assert f"re-orchestrated ({part} part on brass)" in page.locator("#status").inner_text()
    # the neural engine: a fresh take without notes (no MIDI download, no re-orchestration)
    engines["neural"].click()
    _wait_text(page, "#status", "Take 3")
    expect(page.locator("#download-music-mid")).to_be_hidden()
    expect(page.locator("#reorchestrate-row")).to_be_hidden()
    page.get_by_role("tab", name="A/B listening").click()
    expect(page.locator("#ab-comparison")).to_contain_text("score engine vs neural engine")
    assert not errors, errors
    page.close()
