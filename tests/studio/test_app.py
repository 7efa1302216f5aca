"""The studio starts from app.py, serves its page, and answers its API (real server)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited: {proc.stdout.read()}")
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("app.py did not start within 90 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_page_is_served_on_loopback(server: str) -> None:
    with urllib.request.urlopen(server, timeout=10) as r:
        html = r.read().decode()
    assert "soundtrack studio" in html


def test_analyze_api_finds_events_in_a_real_clip(server: str) -> None:
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    plot, table, summary = client.predict(handle_file(str(ROOT / "assets" / "bikes.mp4")), api_name="/analyze")
    rows = table["data"] if isinstance(table, dict) else table
    assert "frames" in summary and "10." in summary  # bikes.mp4 lasts 10 s
    assert all(r[1] in ("cut", "flash", "impact") for r in rows)


def test_bad_upload_is_a_clear_error_not_a_crash(server: str, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    client = Client(server, verbose=False)
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(fake)), api_name="/analyze")
    assert "Traceback" not in str(err.value)
    # the server survives and still answers
    with urllib.request.urlopen(server, timeout=10) as r:
        assert r.status == 200
