"""The training loop: resume equals an uninterrupted run; DDP ranks stay in sync (gloo)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from soundtrack.training.loop import lr_at, train

ROOT = Path(__file__).resolve().parents[2]  # the repository


def test_learning_rate_schedule() -> None:
    assert lr_at(0, lr=1.0, warmup=10, total=100) == 0.1
    assert lr_at(9, lr=1.0, warmup=10, total=100) == 1.0
    assert abs(lr_at(100, lr=1.0, warmup=10, total=100) - 0.1) < 1e-9
    assert lr_at(50, lr=1.0, warmup=10, total=100) < lr_at(20, lr=1.0, warmup=10, total=100)


def test_resume_continues_exactly(tiny_corpus: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    straight, split = tmp_path / "straight", tmp_path / "split"
    train("vocoder", "tiny", run_dir=straight, corpus=tiny_corpus, max_steps=4, progress=False)
    # stopped after step 2 on the 4-step schedule (--stop-at: exported, then resumed to the end)
    assert train("vocoder", "tiny", run_dir=split, corpus=tiny_corpus, max_steps=4, stop_at=2,
                 progress=False)["step"] == 2
    assert (split / "model.safetensors").is_file()
    train("vocoder", "tiny", run_dir=split, corpus=tiny_corpus, max_steps=4, progress=False)
    a = load_file(straight / "model.safetensors")
    b = load_file(split / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    cfg = json.loads((split / "config.json").read_text())
    assert cfg["train"]["steps"] > 0
    steps = [json.loads(line)["step"] for line in (split / "train.log").read_text().splitlines()]
    assert steps[-1] == 4


def test_two_process_ddp_stays_in_sync(tiny_corpus: Path, tmp_path: Path) -> None:
    """torchrun with 2 CPU processes (gloo): a few steps, then every rank holds equal weights."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")  # loopback only: no hostname lookup
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={port}", "-m", "soundtrack.training.loop", "vae", "--config", "tiny",
           "--corpus", str(tiny_corpus), "--run-dir", str(tmp_path / "ddp"), "--max-steps", "3",
           "--no-progress", "--check-sync", "--threads", "1"]
    # own process group, so a hung rank is killed with its launcher, never left behind
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=300)  # below pytest-timeout: a hang fails with its output
    finally:
        if proc.poll() is None:  # the ranks may sit in sessions of their own: kill the whole tree
            import psutil

            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stdout[-2000:] + stderr[-3000:]
    assert "in sync: 2 ranks" in stdout, stdout[-2000:]
    assert (tmp_path / "ddp" / "model.safetensors").is_file()
