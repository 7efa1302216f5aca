"""`python -m soundtrack evaluate` (soundtrack/evaluation/ablations.py) on the tiny corpus with tiny
random runs: every row and metric, finite; the table; the RESULTS.md section is replaced in place;
bad input exits 2. And the controls table's measures and intervals."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from soundtrack.evaluation.ablations import RUN_STAGES, evaluate, main
from soundtrack.evaluation.bootstrap import PAIRED, paired_differences
from soundtrack.evaluation.leakage import fit_stem_classifier
from soundtrack.evaluation.report import (METRICS, SECTION_BEGIN, SECTION_END, SECTION_MARKERS,
                                          markdown_table, write_results_section)
from soundtrack.evaluation.systems import SCORE_SYSTEMS, SYSTEM_NAMES, SYSTEMS, Composer, Generated
from tests.test_pipeline import export_tiny_runs

ROOT = Path(__file__).resolve().parents[2]

OTHER_TEXT = "# Results\n\nHand-written notes that must survive.\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return export_tiny_runs(tmp_path_factory.mktemp("eval-runs"))


@pytest.fixture(scope="module")
def cli_run(tiny_corpus, runs, tmp_path_factory):
    """One CLI evaluation (n=2, steps=2) into a RESULTS.md that already has a stale section."""
    out = tmp_path_factory.mktemp("eval-out")
    md = out / "RESULTS.md"
    md.write_text(f"{OTHER_TEXT}\n{SECTION_BEGIN}\nstale table\n{SECTION_END}\n\n## Later section\n")
    argv = ["--corpus", str(tiny_corpus), "--n", "2", "--steps", "2", "--snio-iters", "1",
            "--json", str(out / "r.json"), "--results-md", str(md), "--no-progress"]
    for key, path in runs.items():
        argv += [f"--{key.replace('_', '-')}", str(path)]
    assert main(argv) == 0
    return json.loads((out / "r.json").read_text()), md


def test_every_row_and_metric_is_finite(cli_run):
    result, _ = cli_run
    assert list(result["rows"]) == list(SYSTEM_NAMES) and result["skipped"] == {}
    for row, values in result["rows"].items():
        for key, _ in METRICS:
            if key in ("beat_cut", "cut_accent") and values[key] is None:  # only when the items have no cuts
                assert not any(e["type"] == "cut" for lab in result["labels"] for e in lab["events"])
                continue
            assert math.isfinite(values[key]), f"{row} {key} = {values[key]}"
        assert 0 <= values["leak_music"] <= 1 and 0 <= values["sync_f1"] <= 1
    real = result["rows"]["real"]
    assert real["fad_stats_music"] == pytest.approx(0, abs=1e-6)
    assert real["fad_cvsm_sfx"] == pytest.approx(0, abs=1e-6)
    s = result["settings"]
    assert (s["n"], s["steps"], s["guidance"], s["seed"], s["snio_iters"]) == (2, 2, 3.0, 0, 1)
    assert 0 <= result["rows"]["full"]["inst_recall"] <= 1
    assert result["rows"]["real"]["kl_inst"] == pytest.approx(0)
    assert set(result["control_scores"]) == {"full", "no_snio", "no_sdma", "two_step"}
    cs = result["control_scores"]
    assert cs["no_snio"]["surrogate_before"] == cs["no_snio"]["surrogate_after"]  # no SNIO: nothing moves
    assert cs["full"]["surrogate_before"] != cs["full"]["surrogate_after"]
    assert s["torch_threads"] >= 1 and s["machine"] and s["runs"]["ldm_nosdma"].endswith("ldm_nosdma")
    assert result["cvsm_retrieval"]["n_candidates"] == 2  # the tiny test split has 2 items
    table = markdown_table(result)
    for row in SYSTEM_NAMES:
        assert f"| {row} |" in table
    pairs = [(a, b, what) for a, b, what in PAIRED if a in result["rows"] and b in result["rows"]]
    assert set(result["paired"]) == {f"{a}-{b}" for a, b, _ in pairs}
    assert "full-composer" not in result["paired"]
    for (a, b, what), (key, d) in zip(pairs, result["paired"].items()):
        rows = result["rows"]
        assert d["sync_f1"]["diff"] == pytest.approx(rows[a]["sync_f1"] - rows[b]["sync_f1"])
        assert d["leak_sfx"]["lo"] <= d["leak_sfx"]["diff"] <= d["leak_sfx"]["hi"]
        assert f"| {what}: {a} − {b} |" in table


def test_the_systems_are_one_table_of_small_objects():
    """Every row names the runs it needs (options of the command), and the generated rows say
    how their pipeline is built: the diffusion model, SNIO or not, the seed offset."""
    assert len(set(SYSTEM_NAMES)) == len(SYSTEMS)
    for system in SYSTEMS:
        assert set(system.needs) <= set(RUN_STAGES), system
    generated = {s.name: s for s in SYSTEMS if isinstance(s, Generated)}
    assert set(generated) == {"full", "no_snio", "no_sdma", "two_step"}
    assert generated["no_sdma"].ldm == "ldm_nosdma"
    assert generated["full"].snio and not generated["no_snio"].snio
    two = generated["two_step"]
    assert two.music_from == "no_snio" and SYSTEM_NAMES.index("no_snio") < SYSTEM_NAMES.index("two_step")
    assert two.seed_offset != 0 and two.config == generated["full"].config


def test_the_score_engine_ablations_and_the_composer_alone(tiny_corpus, runs, cli_run, tmp_path):
    """`evaluate --engine score`: its model's ablations (SDMA, SNIO, two-step), the composer alone
    (its own notes, the full row's effects) and the real stems, paired; its own RESULTS.md section
    beside the neural one."""
    _, neural_md = cli_run
    md = tmp_path / "RESULTS.md"
    md.write_text(neural_md.read_text())
    argv = ["--engine", "score", "--corpus", str(tiny_corpus), "--n", "2", "--steps", "2", "--snio-iters", "1",
            "--json", str(tmp_path / "r.json"), "--results-md", str(md), "--no-progress"]
    for key, path in runs.items():
        argv += [f"--{key.replace('_', '-')}", str(path)]
    assert main(argv) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert list(result["rows"]) == [s.name for s in SCORE_SYSTEMS] and result["skipped"] == {}
    assert result["settings"]["engine"] == "score" and result["settings"]["runs"]["score"].endswith("score")
    rows = result["rows"]
    assert "full-composer" in result["paired"] and "full-no_sdma" in result["paired"]
    d = result["paired"]["full-composer"]
    assert d["sync_f1"]["diff"] == pytest.approx(0.0)  # the composer row plays the full row's effects
    for row in ("full", "composer", "real"):
        assert -1 <= rows[row]["density_motion"] <= 1 and 0 < rows[row]["cvsm_rr"] <= 1
    assert isinstance(SCORE_SYSTEMS[4], Composer) and SCORE_SYSTEMS[4].sfx_from == SCORE_SYSTEMS[0].name
    text = md.read_text()
    begin, end = SECTION_MARKERS["score"]
    assert text.count(begin) == 1 and "## Evaluation: the score engine" in text and "| composer |" in text
    assert text.split(SECTION_BEGIN)[1].split(SECTION_END)[0] == \
        neural_md.read_text().split(SECTION_BEGIN)[1].split(SECTION_END)[0]  # the neural section kept


def test_results_section_is_replaced_in_place(cli_run):
    _, md = cli_run
    text = md.read_text()
    assert text.startswith(OTHER_TEXT) and text.rstrip().endswith("## Later section")
    assert text.count(SECTION_BEGIN) == 1 and text.count(SECTION_END) == 1 and "stale table" not in text
    assert "python -m soundtrack evaluate --corpus" in text and "| full |" in text
    section = text.split(SECTION_BEGIN)[1].split(SECTION_END)[0]
    write_results_section(md, section)  # the same section again: nothing changes
    assert md.read_text() == text


def test_results_section_created_when_missing(tmp_path):
    md = tmp_path / "docs" / "RESULTS.md"
    write_results_section(md, "table one")
    write_results_section(md, "table two")
    assert md.read_text() == f"{SECTION_BEGIN}\ntable two\n{SECTION_END}\n"


def test_missing_runs_skip_their_rows(tiny_corpus, runs, tmp_path):
    result = evaluate(corpus=tiny_corpus, n=1, steps=1, progress=False,
                      runs={**runs, "ldm": tmp_path / "nope", "ldm_nosdma": tmp_path / "nope2"})
    assert set(result["rows"]) == {"retrieval", "round_trip", "real"}
    assert "nope" in result["skipped"]["no_snio"] and "nope" in result["skipped"]["two_step"]
    assert "nope" in result["skipped"]["full"] and "nope2" in result["skipped"]["no_sdma"]
    assert "`full`: skipped" in markdown_table(result)


def _rows_for_pairing(rng, n: int, *, leak_shift: float) -> dict:
    base = rng.uniform(0.1, 0.5, n)
    counts = [(3, 4, 4)] * n
    def row(shift, hits):
        return {"items": {"leak_music": (base + shift).tolist(), "leak_sfx": base.tolist(),
                          "sync": [(hits, r, e) for _, r, e in counts], "tempo_acc1": [1.0] * n,
                          "balance_db": [1.0, None] * (n // 2)}}
    return {"a": row(leak_shift, 4), "b": row(0.0, 2)}


def test_paired_differences_find_a_consistent_shift_and_not_a_null_one():
    rng = np.random.default_rng(0)
    rows = _rows_for_pairing(rng, 40, leak_shift=-0.05)
    d = paired_differences(rows, "a", "b", n_boot=500)
    # every item 0.05 lower; sync pooled, and re-pooled on every draw
    assert d["leak_music"]["diff"] == pytest.approx(-0.05) and d["leak_music"]["hi"] < 0
    assert d["sync_f1"]["diff"] == pytest.approx(1.0 - 0.5) and d["sync_f1"]["lo"] > 0
    for key in ("leak_sfx", "tempo_acc1", "balance_db"):  # identical in both rows
        assert d[key] == {"diff": 0.0, "lo": 0.0, "hi": 0.0}
    assert "inst_recall" not in d  # no judge: no per-item counts
    noisy = {"a": {"items": {"leak_music": rng.normal(0.3, 0.1, 40).tolist()}},
             "b": {"items": {"leak_music": rng.normal(0.3, 0.1, 40).tolist()}}}
    c = paired_differences(noisy, "a", "b", n_boot=500)["leak_music"]
    assert c["lo"] < c["diff"] < c["hi"] and c["hi"] - c["lo"] > 0.02


def test_stem_classifier_separates_the_classes():
    rng = np.random.default_rng(0)
    music, sfx = rng.normal(0, 1, (100, 5)), rng.normal(0, 1, (100, 5)) + np.array([3, 0, 0, 0, 0])
    clf = fit_stem_classifier(music, sfx)
    assert clf.train_accuracy > 0.95
    assert clf.p_effects(music).mean() < 0.2 and clf.p_effects(sfx).mean() > 0.8


@pytest.mark.parametrize("args, message", [
    (["--corpus", "/nonexistent/corpus"], "no split 'test'"),
    (["--n", "0"], "n must be"),
])
def test_bad_input_exits_2_with_one_line(tiny_corpus, capsys, args, message):
    argv = ["--corpus", str(tiny_corpus), "--no-progress", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_evaluate_controls_runs_and_reports_both_samplings(tmp_path):
    from soundtrack.evaluation.controls import evaluate_controls, markdown
    from tests.test_pipeline import export_tiny_checkpoints

    ckpt = export_tiny_checkpoints(tmp_path)
    video = ROOT / "assets" / "bigbuckbunny.mp4"
    result = evaluate_controls(videos=[video], checkpoints=ckpt, n_tempos=2, snio_iters=1, progress=False)
    for name in ("snio", "plain"):
        s = result["summary"][name]
        assert s["n"] == 2 and 0 <= s["tempo_within_4pct"] <= 1 and 0 <= s["sync_f1"] <= 1
        assert s["inst_requested_detected"] is not None  # the tiny judge is bundled
    assert [r["tempo"] for r in result["rows"]["snio"]] == [60.0, 75.0]
    assert "| plain (no SNIO) | 2 |" in markdown(result)
    tempo = result["snio_minus_plain"]["tempo_within_4pct"]
    s = result["summary"]
    assert tempo["diff"] == pytest.approx(s["snio"]["tempo_within_4pct"] - s["plain"]["tempo_within_4pct"])
    assert tempo["lo"] <= tempo["diff"] <= tempo["hi"] and "SNIO minus plain sampling" in markdown(result)


def test_controls_sync_f1_with_and_without_event_free_videos():
    """Onsets on a video without events are false positives of the pooled F1 only."""
    from soundtrack.evaluation.controls import summarise

    def row(hits, ref, est):
        return {"tempo_ok": True, "balance_err_db": 0.0, "sync_hits": hits, "sync_ref": ref, "sync_est": est,
                "scores": {}}

    s = summarise([row(8, 10, 10), row(0, 0, 6)])
    assert s["sync_f1_with_events"] == pytest.approx(0.8)
    assert s["sync_f1"] == pytest.approx(2 * 0.5 * 0.8 / 1.3)


def test_controls_paired_intervals_separate_a_real_gain_from_none():
    from soundtrack.evaluation.controls import paired_intervals

    def row(ok, hits):
        return {"tempo_ok": ok, "balance_err_db": 0.5, "sync_hits": hits, "sync_ref": 4, "sync_est": 4}

    a = [row(True, 3) for _ in range(30)]
    b = [row(k % 3 == 0, 3) for k in range(30)]  # a third of the requests on tempo
    d = paired_intervals(a, b, n_boot=500)
    assert d["tempo_within_4pct"]["diff"] == pytest.approx(2 / 3) and d["tempo_within_4pct"]["lo"] > 0
    assert d["sync_f1"] == {"diff": 0.0, "lo": 0.0, "hi": 0.0}  # the same counts in both
    assert "inst_requested_detected" not in d  # no judge counts
