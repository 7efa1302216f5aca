"""The studio's fixtures: a tiny random model in the bundled layout, and app.py serving it.

The server is real (`python app.py` in a subprocess) and shared by the API and browser
tests; everything it writes (votes, takes, Gradio's cache) goes under one temporary folder.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> Path:
    """Random tiny models laid out as checkpoints/ (tests/test_pipeline.py::export_tiny_checkpoints)."""
    from tests.test_pipeline import export_tiny_checkpoints

    return export_tiny_checkpoints(tmp_path_factory.mktemp("tiny"))


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path
    ab_db: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def server(tiny_checkpoints: Path, tmp_path_factory) -> Server:
    """app.py on a free loopback port, with the tiny model and its own vote database."""
    from soundtrack.studio.local import start_app

    work = tmp_path_factory.mktemp("studio")
    proc, url = start_app(work, env={"SOUNDTRACK_CHECKPOINTS": str(tiny_checkpoints), "OMP_NUM_THREADS": "1"},
                          timeout_s=90)
    log = work / "app.log"
    yield Server(url=url, proc=proc, log=log, ab_db=work / "ab.sqlite")
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests leave files for people to look at ($PYTEST_ARTIFACTS, else test-artifacts/)."""
    path = Path(os.environ.get("PYTEST_ARTIFACTS") or ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path
