"""Start the studio (`python app.py`) as a child process on a free loopback port and wait until
its page answers. The load script (scripts/load_test.py) and the studio tests use it.

    proc, url = start_app(work, env={"SOUNDTRACK_CHECKPOINTS": "..."})
    ...
    proc.terminate()

Everything the app writes goes under `work`: votes `ab.sqlite`, takes `takes/`, Gradio's
cache `gradio/`, and its output `app.log`.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(work: Path, *, env: Mapping[str, str] | None = None,
              timeout_s: float = 120.0) -> tuple[subprocess.Popen, str]:
    """`python app.py` on a free 127.0.0.1 port, its files under `work` (module docstring).

    env: variables on top of this process's own. Raises RuntimeError with the log when the app
    exits or does not answer within `timeout_s` (and kills it).
    """
    port = free_port()
    full_env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", SOUNDTRACK_AB_DB=str(work / "ab.sqlite"),
                    SOUNDTRACK_STUDIO_DIR=str(work / "takes"), GRADIO_TEMP_DIR=str(work / "gradio"),
                    **(env or {}))
    full_env.pop("GRADIO_SERVER_NAME", None)  # app.py would bind it instead of 127.0.0.1
    log = work / "app.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=full_env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited: {log.read_text(errors='replace')[-2000:]}") from None
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"app.py did not start within {timeout_s:g} s: "
                       f"{log.read_text(errors='replace')[-2000:]}")


__all__ = ["free_port", "start_app"]
