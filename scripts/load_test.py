"""Load test of the studio API: concurrent gradio_client sessions calling /generate and /analyze.

    python -m scripts.load_test --tiny --seconds 90            # local app.py, tiny random model
    python -m scripts.load_test --seconds 120                   # local app.py, bundled checkpoints/
    python -m scripts.load_test --url http://127.0.0.1:7860/ --pid 1234   # a running server

Without --url it starts `python app.py` on a free loopback port with its own temporary vote
database, take folder and Gradio cache (--checkpoints DIR, or --tiny for a random tiny model
exported into the temporary folder; otherwise the bundled checkpoints/). `--concurrency`
sessions (default 8, below app.py's queue max_size=16) each send requests back to back for
`--seconds`: every `--analyze-every`-th request is /analyze, the others /generate on `--clip`
with small settings. It then sends a burst of `--burst` simultaneous /generate requests, more
than the queue holds, and counts the "queue full" refusals apart from failures.

Prints (and with --json writes) requests, failures, p50/p95 latency per endpoint, and the
server's resident memory (VmRSS of its process, sampled every second) over the first and the
last minute of load, with the growth in percent, and the size of its temporary folders.
Exit status 1 if any request failed (a "queue full" refusal in the burst is not a failure).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    endpoint: str
    start_s: float  # since the load began
    latency_s: float
    outcome: str  # "ok", "queue_full" or "failure"
    error: str = ""


# ----------------------------------------------------------------------------------- the server
def launch(work: Path, checkpoints: Path | None, threads: int | None) -> tuple[subprocess.Popen, str]:
    """app.py on a free loopback port, everything it writes under `work`."""
    from soundtrack.studio.local import start_app

    env = {}
    if checkpoints is not None:
        env["SOUNDTRACK_CHECKPOINTS"] = str(checkpoints)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    try:
        return start_app(work, env=env, timeout_s=120)
    except RuntimeError as e:
        raise SystemExit(str(e)) from None


def rss_bytes(pid: int) -> int | None:
    """VmRSS of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


class MemorySampler(threading.Thread):
    """(seconds since start, VmRSS bytes) of `pid` every `every` seconds."""

    def __init__(self, pid: int, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self.t0 = time.perf_counter()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            rss = rss_bytes(self.pid)
            if rss is not None:
                self.samples.append((time.perf_counter() - self.t0, rss))
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()


# ------------------------------------------------------------------------------------- the load
def _classify(err: BaseException) -> str:
    """"queue_full" for Gradio's refusal of a request beyond the queue's max_size, else "failure"."""
    text = f"{type(err).__name__}: {err}"
    if "queue is full" in text.lower() or type(err).__name__ == "QueueError":
        return "queue_full"
    return "failure"


def _call(client, endpoint: str, clip: Path, settings: dict, seed: int) -> None:
    from gradio_client import handle_file

    if endpoint == "/analyze":
        client.predict(handle_file(str(clip)), api_name="/analyze")
        return
    outputs = client.predict(handle_file(str(clip)), api_name="/generate", seed=seed, **settings)
    for path in outputs[:4]:  # downloaded files: drop them so the client's disk use stays flat
        shutil.rmtree(Path(path).parent, ignore_errors=True)
    report = outputs[4]
    assert report["settings"]["seed"] == seed, report["settings"]


def worker(k: int, url: str, args, t0: float, deadline: float, results: list[Result], lock: threading.Lock,
           downloads: Path) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=str(downloads / f"w{k}"))
    i = 0
    while time.perf_counter() < deadline:
        endpoint = "/analyze" if args.analyze_every and i % args.analyze_every == args.analyze_every - 1 \
            else "/generate"
        start = time.perf_counter()
        outcome, error = "ok", ""
        try:
            _call(client, endpoint, args.clip, {"steps": args.steps, "snio_iters": args.snio_iters},
                  seed=1000 * k + i)
        except Exception as e:  # noqa: BLE001 - every error is counted and reported
            outcome, error = _classify(e), f"{type(e).__name__}: {e}"[:300]
        with lock:
            results.append(Result(endpoint, start - t0, time.perf_counter() - start, outcome, error))
        i += 1


def burst(url: str, n: int, args, downloads: Path) -> list[Result]:
    """`n` /generate requests submitted at the same instant from `n` sessions."""
    from gradio_client import Client

    clients = [Client(url, verbose=False, download_files=str(downloads / f"b{k}")) for k in range(n)]
    results: list[Result] = []
    lock = threading.Lock()
    gate = threading.Barrier(n)
    t0 = time.perf_counter()

    def one(k: int) -> None:
        gate.wait()
        start = time.perf_counter()
        outcome, error = "ok", ""
        try:
            _call(clients[k], "/generate", args.clip, {"steps": args.steps, "snio_iters": args.snio_iters},
                  seed=900_000 + k)
        except Exception as e:  # noqa: BLE001
            outcome, error = _classify(e), f"{type(e).__name__}: {e}"[:300]
        with lock:
            results.append(Result("/generate", start - t0, time.perf_counter() - start, outcome, error))

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.burst_timeout)
    if any(t.is_alive() for t in threads):
        results.append(Result("/generate", 0.0, args.burst_timeout, "failure",
                              f"{sum(t.is_alive() for t in threads)} requests still waiting after "
                              f"{args.burst_timeout:g} s (hung)"))
    return results


# ------------------------------------------------------------------------------------ reporting
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarise(results: list[Result]) -> dict:
    out: dict = {}
    for endpoint in sorted({r.endpoint for r in results}) + ["all"]:
        rows = [r for r in results if endpoint in ("all", r.endpoint)]
        ok = [r.latency_s for r in rows if r.outcome == "ok"]
        out[endpoint] = {
            "requests": len(rows), "ok": len(ok),
            "failures": sum(r.outcome == "failure" for r in rows),
            "queue_full": sum(r.outcome == "queue_full" for r in rows),
            "p50_s": round(percentile(ok, 50), 3) if ok else None,
            "p95_s": round(percentile(ok, 95), 3) if ok else None,
            "max_s": round(max(ok), 3) if ok else None,
        }
    return out


def memory_summary(samples: list[tuple[float, int]], load_start: float, load_end: float) -> dict:
    """Median VmRSS over the first and the last minute of the load (each at most half of it,
    so they never overlap), the growth between them, and the peak."""
    during = [(t, r) for t, r in samples if load_start <= t <= load_end]
    if not during:
        return {}
    span = min(60.0, (load_end - load_start) / 2)
    first = [r for t, r in during if t < load_start + span]
    last = [r for t, r in during if t >= load_end - span]
    before = [r for t, r in samples if t < load_start]
    mib = 2 ** 20
    first_mib, last_mib = statistics.median(first) / mib, statistics.median(last) / mib
    return {
        "idle_before_mib": round(before[-1] / mib, 1) if before else None,
        "window_s": round(span, 1),
        "first_window_median_mib": round(first_mib, 1),
        "last_window_median_mib": round(last_mib, 1),
        "growth_percent": round(100 * (last_mib - first_mib) / first_mib, 2),
        "peak_mib": round(max(r for _, r in during) / mib, 1),
        "samples": len(during),
        "timeline_mib": [[round(t - load_start), round(r / mib)] for t, r in during[::10]],  # every ~10 s
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running studio (default: start app.py locally)")
    p.add_argument("--pid", type=int, help="with --url: the server's process id, for its memory")
    p.add_argument("--checkpoints", type=Path, help="model folder for the local app (default: checkpoints/)")
    p.add_argument("--tiny", action="store_true", help="use a tiny random model (exported to a temp folder)")
    p.add_argument("--threads", type=int, help="OMP_NUM_THREADS of the local app")
    p.add_argument("--seconds", type=float, default=120.0, help="how long the sessions send requests")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent sessions (default 8)")
    p.add_argument("--clip", type=Path, default=ROOT / "assets" / "flashes-and-bounces.mp4")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--snio-iters", type=int, default=1)
    p.add_argument("--analyze-every", type=int, default=4, help="every N-th request is /analyze (0: never)")
    p.add_argument("--burst", type=int, default=24, help="simultaneous requests after the load (0: none)")
    p.add_argument("--burst-timeout", type=float, default=300.0)
    p.add_argument("--json", type=Path, help="also write the summary here")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (server log, takes)")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="soundtrack-load-"))
    proc = None
    try:
        # 1. The server
        if args.url:
            url, pid = args.url, args.pid
        else:
            checkpoints = args.checkpoints
            if args.tiny:
                from tests.test_pipeline import export_tiny_checkpoints

                checkpoints = export_tiny_checkpoints(work / "tiny")
            proc, url = launch(work, checkpoints, args.threads)
            pid = proc.pid
        print(f"server {url} (pid {pid}); {args.concurrency} sessions for {args.seconds:g} s; "
              f"clip {args.clip.name}, steps {args.steps}, snio_iters {args.snio_iters}", file=sys.stderr)
        sampler = MemorySampler(pid) if pid else None
        if sampler:
            sampler.start()
            time.sleep(2.0)
        folders = {"gradio_cache": work / "gradio", "takes": work / "takes"} if proc else {}
        sizes_before = {k: folder_bytes(v) for k, v in folders.items()}

        # 2. Sustained load
        results: list[Result] = []
        lock = threading.Lock()
        downloads = work / "client"
        t0 = time.perf_counter()
        deadline = t0 + args.seconds
        load_start = (t0 - sampler.t0) if sampler else 0.0
        threads = [threading.Thread(target=worker,
                                    args=(k, url, args, t0, deadline, results, lock, downloads))
                   for k in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        load_end = (time.perf_counter() - sampler.t0) if sampler else 0.0
        sizes_after = {k: folder_bytes(v) for k, v in folders.items()}

        # 3. A burst beyond the queue
        burst_results = burst(url, args.burst, args, downloads) if args.burst else []
        if sampler:
            sampler.stop()
        alive = proc.poll() is None if proc else None

        summary = {
            "url": url, "concurrency": args.concurrency, "seconds": args.seconds, "wall_s": round(wall, 1),
            "clip": args.clip.name, "steps": args.steps, "snio_iters": args.snio_iters,
            "model": "tiny (random)" if args.tiny else str(args.checkpoints or "checkpoints/"),
            "load": summarise(results),
            "throughput_per_min": round(60 * sum(r.outcome == "ok" for r in results) / wall, 1),
            "memory": memory_summary(sampler.samples, load_start, load_end) if sampler else {},
            "temp_folders_mib": {k: {"before": round(sizes_before[k] / 2**20, 1),
                                     "after": round(sizes_after[k] / 2**20, 1)} for k in folders},
            "burst": {**summarise(burst_results).get("all", {}), "size": args.burst} if burst_results else {},
            "errors": sorted({r.error for r in results + burst_results if r.error})[:10],
            "server_alive_after": alive,
        }
        text = json.dumps(summary, indent=1)
        print(text)
        if args.json:
            args.json.write_text(text)
        failures = (summary["load"]["all"]["failures"]
                    + (summary["burst"].get("failures", 0) if burst_results else 0))
        return 1 if failures or alive is False else 0
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
