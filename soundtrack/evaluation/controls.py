"""Do the controls take hold? `python -m soundtrack.evaluate_controls [--videos ...]`.

For every request (a video, a tempo spread over 60-180 BPM, an instrument set, a balance,
a seed) the bundled pipeline generates twice with the same seed: with SNIO (the studio's
default iterations) and without (`snio_iters = 0`). Each take is measured as a listener's
tools would, never with SNIO's own scores:

- tempo: librosa's estimate on the music stem within +-4 % of the request (issue 4's bar);
- instrumentation: the independent judge (soundtrack/models/instruments.py, trained on the
  other soundfont, another architecture and seed) on the music stem: requested families
  detected, unrequested families detected;
- balance: LUFS(effects) - LUFS(music) of the delivered 48 kHz stems against the slider's
  documented 20 log10(b / (1 - b)) dB;
- sync: librosa onsets of the effects stem against the video's detected events, F1 at
  +-50 ms (mir_eval), pooled over requests; and pooled over the requests whose video has
  events (on a video without any, every effect onset is a false positive).

Prints a Markdown table and writes it (with the command) into docs/RESULTS.md between
`<!-- controls:begin -->` and `<!-- controls:end -->` when `--results-md` is given.
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path

import numpy as np

from soundtrack.data.verify import f_measure
from soundtrack.errors import InputError

TEMPOS = (60.0, 75.0, 90.0, 105.0, 120.0, 135.0, 150.0, 165.0, 180.0)
INSTRUMENT_SETS = (("piano", "bass", "drums"), ("strings", "woodwinds"), ("guitar", "bass", "drums"),
                   ("synth", "bass", "drums"), ("brass", "strings", "drums"), ("organ", "bass"))
BALANCES = (0.3, 0.5, 0.7)
BEGIN, END = "<!-- controls:begin -->", "<!-- controls:end -->"


def _measure(take, judge, *, instruments: tuple[str, ...], balance: float, events: list[float]) -> dict:
    import torch

    from soundtrack.audio.mel import log_mel
    from soundtrack.audio.mix import balance_target_db, loudness_lufs
    from soundtrack.data.families import FAMILY_NAMES
    from soundtrack.data.verify import effect_onsets, onset_scores, tempo_estimate
    from soundtrack.models.instruments import instrument_probs

    sr = 16000
    tempo = tempo_estimate(take.music16, sr)
    out = {"tempo_measured": tempo, "tempo_ok": abs(tempo / take.tempo_bpm - 1) <= 0.04}
    if judge is not None:
        mel = log_mel(torch.from_numpy(np.ascontiguousarray(take.music16)).float())  # (1, 64, F)
        p = instrument_probs(judge, mel)[0]  # (10,)
        req = np.array([f in instruments for f in FAMILY_NAMES])
        det = p.numpy() >= 0.5
        out["inst_hits"], out["inst_req"] = int((det & req).sum()), int(req.sum())
        out["inst_false"], out["inst_unreq"] = int((det & ~req).sum()), int((~req).sum())
    mix = take.mix
    diff = loudness_lufs(mix.sfx, mix.sr) - loudness_lufs(mix.music, mix.sr)
    out["balance_err_db"] = abs(diff - balance_target_db(balance)) if math.isfinite(diff) else float("inf")
    _, _, _, hits, n_ref, n_est = onset_scores(events, effect_onsets(take.sfx16, sr))
    out["sync_hits"], out["sync_ref"], out["sync_est"] = hits, n_ref, n_est
    out["scores"] = take.report["scores"]["output"]
    return out


def _rates(rows: list[dict]) -> dict[str, float | None]:
    """The control measures of a set of takes (pooled where they are counts)."""
    def rate(num: str, den: str) -> float | None:
        d = sum(r.get(den, 0) for r in rows)
        return sum(r.get(num, 0) for r in rows) / d if d else None

    def f1(rows: list[dict]) -> float:
        return f_measure(*(sum(r[k] for r in rows) for k in ("sync_hits", "sync_ref", "sync_est")))[0]

    return {
        "tempo_within_4pct": float(np.mean([r["tempo_ok"] for r in rows])),
        "inst_requested_detected": rate("inst_hits", "inst_req"),
        "inst_unrequested_detected": rate("inst_false", "inst_unreq"),
        "balance_within_1db": float(np.mean([r["balance_err_db"] <= 1.0 for r in rows])),
        "balance_err_db_median": float(np.median([r["balance_err_db"] for r in rows])),
        "sync_f1": f1(rows),  # pooled: onsets on a video without events count as false positives
        "sync_f1_with_events": f1([r for r in rows if r["sync_ref"] > 0]),
    }


def _summary(rows: list[dict]) -> dict:
    from soundtrack.sampling.scores import mean_scores

    return {"n": len(rows), **_rates(rows), "scores": mean_scores([row["scores"] for row in rows])}


PAIRED_KEYS = ("tempo_within_4pct", "inst_requested_detected", "inst_unrequested_detected",
               "balance_within_1db", "sync_f1", "sync_f1_with_events")


def paired_intervals(rows_a: list[dict], rows_b: list[dict], *, n_boot: int = 2000,
                     seed: int = 0) -> dict[str, dict[str, float]]:
    """{measure: {"diff", "lo", "hi"}}: takes a minus takes b of the same requests, with the
    95 % interval of a paired bootstrap over the requests (soundtrack.evaluate.paired_rows)."""
    from soundtrack.evaluate import paired_rows

    return paired_rows(rows_a, rows_b, _rates, PAIRED_KEYS, n_boot=n_boot, seed=seed)


def control_requests(videos: list[Path], *, n_tempos: int = len(TEMPOS),
                     seed: int = 0) -> list[tuple[Path, float, tuple[str, ...], float, int]]:
    """(video, tempo, instrument families, balance, seed) of every request: each video at the
    first `n_tempos` tempos, instruments and balances rotating with the request's index k,
    seed `seed` + k."""
    return [(video, tempo, INSTRUMENT_SETS[k % len(INSTRUMENT_SETS)], BALANCES[k % len(BALANCES)], seed + k)
            for k, (video, tempo) in enumerate(itertools.product(videos, TEMPOS[:n_tempos]))]


def evaluate_controls(*, videos: list[Path], checkpoints: Path | None = None, n_tempos: int = len(TEMPOS),
                      snio_iters: int | None = None, seed: int = 0, progress: bool = True,
                      grid_guidance: float | None = None, snio_at: float | None = None,
                      snio_full_grad: bool = False) -> dict:
    from tqdm import tqdm

    from soundtrack.models.instruments import load_instrument_judge
    from soundtrack.pipeline import Settings, SoundtrackPipeline, checkpoint_root
    from soundtrack.sampling.snio import SNIOConfig

    root = checkpoint_root(checkpoints)
    ablations: dict = {} if snio_at is None else {"at": snio_at}
    if snio_full_grad:
        ablations["cond_grad"] = False
    pipe = SoundtrackPipeline.bundled(root, snio=SNIOConfig(**ablations), grid_guidance=grid_guidance)
    judge = load_instrument_judge(root / "instruments-judge") if (root / "instruments-judge").is_dir() else None
    iters = Settings().snio_iters if snio_iters is None else snio_iters
    requests = control_requests(videos, n_tempos=n_tempos, seed=seed)
    rows = {"snio": [], "plain": []}
    t0 = time.perf_counter()
    for video, tempo, inst, bal, s in tqdm(requests, desc="controls", unit="request", disable=not progress):
        events = [e.time for e in pipe.plan(video).events]
        for name, it in (("snio", iters), ("plain", 0)):
            settings = Settings(tempo=tempo, instruments={f: 1.0 for f in inst}, balance=bal, seed=s,
                                snio_iters=it)
            take = pipe(video, settings)
            rows[name].append({"video": Path(video).name, "tempo": tempo, "instruments": list(inst),
                               "balance": bal, "seed": s,
                               **_measure(take, judge, instruments=inst, balance=bal, events=events)})
    return {"summary": {k: _summary(v) for k, v in rows.items()},
            "snio_minus_plain": paired_intervals(rows["snio"], rows["plain"]),
            "rows": rows, "snio_iters": iters,
            "snio_at": pipe.snio.at, "snio_cond_grad": pipe.snio.cond_grad,
            "grid_guidance": pipe.grid_guidance,
            "videos": [Path(v).name for v in videos], "seconds": time.perf_counter() - t0,
            "judge": judge is not None}


def markdown(result: dict) -> str:
    def f(x: object) -> str:
        return "—" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)

    s = result["summary"]
    lines = ["| sampling | requests | tempo within ±4 % | requested families detected | unrequested detected | "
             "balance within ±1 dB | sync F1 (±50 ms) | sync F1, videos with events |",
             "|---|---|---|---|---|---|---|---|"]
    for name, title in (("plain", "plain (no SNIO)"),
                        ("snio", f"SNIO, {result['snio_iters']} iterations at {result['snio_at']:g} of the steps")):
        v = s[name]
        lines.append(f"| {title} | {v['n']} | {f(v['tempo_within_4pct'])} | {f(v['inst_requested_detected'])} | "
                     f"{f(v['inst_unrequested_detected'])} | {f(v['balance_within_1db'])} | {f(v['sync_f1'])} | "
                     f"{f(v.get('sync_f1_with_events'))} |")
    paired = result.get("snio_minus_plain")
    if paired:
        from soundtrack.evaluate import format_interval

        titles = {"tempo_within_4pct": "tempo within ±4 %", "inst_requested_detected": "requested detected",
                  "inst_unrequested_detected": "unrequested detected",
                  "balance_within_1db": "balance within ±1 dB", "sync_f1": "sync F1",
                  "sync_f1_with_events": "sync F1, videos with events"}
        lines += ["", f"SNIO minus plain sampling on the same {s['snio']['n']} requests and seeds, with "
                  "the 95 % interval of a paired bootstrap over the requests (2,000 draws; * where it "
                  "excludes 0): " + "; ".join(f"{titles[k]} {format_interval(c)}" for k, c in paired.items())
                  + "."]
    names = sorted(set(s["snio"]["scores"]) | set(s["plain"]["scores"]))
    lines += ["", "SNIO's own scores on the sampled output (means; method/snio.md eqs. 3-8):", "",
              "| sampling | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for name in ("plain", "snio"):
        lines.append(f"| {name} | " + " | ".join(f(s[name]["scores"].get(k)) for k in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(prog="python -m soundtrack.evaluate_controls")
    p.add_argument("--videos", type=Path, nargs="+", default=sorted((root / "assets").glob("*.mp4")))
    p.add_argument("--checkpoints", type=Path, default=None)
    p.add_argument("--tempos", type=int, default=len(TEMPOS), help="how many of the 9 tempos 60..180 to use")
    p.add_argument("--snio-iters", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid-guidance", type=float, default=None, help="w_g of sdma.md eq. 14b (ablation; 0 = off)")
    p.add_argument("--snio-at", type=float, default=None,
                   help="where SNIO optimises, as a fraction of the sampler steps (ablation; 0 = the starting noise)")
    p.add_argument("--snio-full-grad", action="store_true",
                   help="SNIO's gradient through every guidance branch, not the conditional one (ablation)")
    p.add_argument("--json", type=Path)
    p.add_argument("--results-md", type=Path)
    args = p.parse_args(argv)
    try:
        result = evaluate_controls(videos=args.videos, checkpoints=args.checkpoints, n_tempos=args.tempos,
                                   snio_iters=args.snio_iters, seed=args.seed, grid_guidance=args.grid_guidance,
                                   snio_at=args.snio_at, snio_full_grad=args.snio_full_grad)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from soundtrack.evaluate import publish

    publish(result, markdown(result), json_path=args.json, results_md=args.results_md,
            module="soundtrack.evaluate_controls", argv=argv, heading="Controls",
            detail=f"{', '.join(result['videos'])}; {result['summary']['snio']['n']} requests x 2, "
                   f"{result['seconds']:.0f} s", begin=BEGIN, end=END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
