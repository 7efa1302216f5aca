"""The studio's fixtures: a tiny random model in the bundled layout, and app.py serving it.

The server is real (`python app.py` in a subprocess) and shared by the API and browser
tests; everything it writes (votes, takes, Gradio's cache) goes under one temporary folder.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_NAMES = {"vae": "vae", "vocoder": "vocoder", "cvsm": "cvsm", "ldm": "ldm", "ldm_nosdma": "ldm-nosdma"}


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> Path:
    """Random tiny models laid out as checkpoints/ (vae, vocoder, cvsm, ldm, ldm-nosdma)."""
    from tests.test_pipeline import export_tiny_runs

    runs = export_tiny_runs(tmp_path_factory.mktemp("tiny-runs"))
    root = tmp_path_factory.mktemp("checkpoints")
    for key, name in BUNDLED_NAMES.items():
        shutil.move(str(runs[key]), root / name)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    work = tmp_path_factory.mktemp("studio")
    port = _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", SOUNDTRACK_CHECKPOINTS=str(tiny_checkpoints),
               SOUNDTRACK_AB_DB=str(work / "ab.sqlite"), SOUNDTRACK_STUDIO_DIR=str(work / "takes"),
               GRADIO_TEMP_DIR=str(work / "gradio"), OMP_NUM_THREADS="1")
    env.pop("GRADIO_SERVER_NAME", None)
    log = work / "app.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited: {log.read_text()}")
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError(f"app.py did not start within 90 s: {log.read_text()}")
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
