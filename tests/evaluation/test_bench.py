"""`python -m soundtrack bench --quick` runs end to end on a tiny model and prints every field
other checks read (the numbers themselves are reported by the command, not asserted here)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_pipeline import export_tiny_checkpoints

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ("total_s_10s", "total_s_60s", "snio_iter_s", "first_preview_s", "cold_start_s", "peak_rss_mb",
            "seed_baseline_s_10s", "speedup")


@pytest.mark.parametrize("engine", ["neural", "score"])
def test_bench_quick_prints_every_required_field(tmp_path, engine):
    ckpt = export_tiny_checkpoints(tmp_path)
    r = subprocess.run([sys.executable, "-m", "soundtrack", "bench", "--quick", "--threads", "1",
                        "--engine", engine,
                        "--checkpoints", str(ckpt), "--json", str(tmp_path / "bench.json")],
                       cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert r.returncode == 0, r.stderr[-2000:]
    printed = json.loads(r.stdout)
    assert printed == json.loads((tmp_path / "bench.json").read_text())
    for key in REQUIRED:
        assert isinstance(printed[key], (int, float)) and printed[key] > 0, key
    assert printed["speedup"] == printed["seed_baseline_s_10s"] / printed["total_s_10s"]
    assert set(printed["scaling"]["windows"].values()) == {1}  # 2-4 s videos: one window each
    assert {"snio", "sample", "vocode", "mix", "total"} <= set(printed["stages_2s"])
    assert printed["engine"] == engine and ("render" in printed["stages_2s"]) == (engine == "score")
