"""Do the controls take hold? `python -m soundtrack.evaluation.controls [--videos ...]`.

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
`<!-- controls:begin -->` and `<!-- controls:end -->` when `--results-md` is given. The
sweeps of soundtrack/evaluation/sweeps/ that vary SNIO run these requests and measures.
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path

import numpy as np

from soundtrack.audio.onsets import f_measure
from soundtrack.config import AUDIO, GenerationConfig, SamplerConfig, SNIOConfig
from soundtrack.errors import InputError
from soundtrack.evaluation.bootstrap import format_interval, paired_rows

ASSETS = Path(__file__).resolve().parents[2] / "assets"  # the example videos: the default requests
TEMPOS = (60.0, 75.0, 90.0, 105.0, 120.0, 135.0, 150.0, 165.0, 180.0)
INSTRUMENT_SETS = (("piano", "bass", "drums"), ("strings", "woodwinds"), ("guitar", "bass", "drums"),
                   ("synth", "bass", "drums"), ("brass", "strings", "drums"), ("organ", "bass"))
BALANCES = (0.3, 0.5, 0.7)
BEGIN, END = "<!-- controls:begin -->", "<!-- controls:end -->"
PAIRED_KEYS = ("tempo_within_4pct", "inst_requested_detected", "inst_unrequested_detected",
               "balance_within_1db", "sync_f1", "sync_f1_with_events")
Request = tuple[Path, float, tuple[str, ...], float, int]  # video, tempo, instrument families, balance, seed


def asset_videos() -> list[Path]:
    """The example videos in assets/, sorted: the requests' videos by default."""
    return sorted(ASSETS.glob("*.mp4"))


def control_requests(videos: list[Path], *, n_tempos: int = len(TEMPOS), seed: int = 0) -> list[Request]:
    """(video, tempo, instrument families, balance, seed) of every request: each video at the
    first `n_tempos` tempos, instruments and balances rotating with the request's index k,
    seed `seed` + k."""
    return [(video, tempo, INSTRUMENT_SETS[k % len(INSTRUMENT_SETS)], BALANCES[k % len(BALANCES)], seed + k)
            for k, (video, tempo) in enumerate(itertools.product(videos, TEMPOS[:n_tempos]))]


def request_settings(request: Request, **settings):
    """The Settings of a request (each family at weight 1), with any further `settings` (snio_iters, ...)."""
    from soundtrack.pipeline import Settings

    _, tempo, inst, balance, seed = request
    return Settings(tempo=tempo, instruments={f: 1.0 for f in inst}, balance=balance, seed=seed, **settings)


def instrument_counts(classifier, music16: np.ndarray, families: tuple[str, ...]) -> dict:
    """Requested/unrequested families detected (p >= 0.5) by one classifier on a 16 kHz music stem."""
    import torch

    from soundtrack.audio.mel import log_mel
    from soundtrack.models.instruments import instrument_probs
    from soundtrack.music.families import FAMILY_NAMES

    mel = log_mel(torch.from_numpy(np.ascontiguousarray(music16)).float())
    det = instrument_probs(classifier, mel)[0].numpy() >= 0.5
    req = np.array([f in families for f in FAMILY_NAMES])
    return {"hits": int((det & req).sum()), "req": int(req.sum()), "false": int((det & ~req).sum()),
            "unreq": int((~req).sum()), "heard": [f for f, d in zip(FAMILY_NAMES, det) if d]}


def measure_take(take, judge, *, instruments: tuple[str, ...], balance: float, events: list[float]) -> dict:
    """The control measures of one take (module docstring); judge None: no instrument counts."""
    from soundtrack.audio.mix import balance_target_db, loudness_lufs
    from soundtrack.audio.onsets import effect_onsets, onset_scores
    from soundtrack.audio.tempo import TEMPO_TOLERANCE, tempo_estimate

    sr = AUDIO.sample_rate
    tempo = tempo_estimate(take.music16, sr)
    out = {"tempo_measured": tempo, "tempo_ok": abs(tempo / take.tempo_bpm - 1) <= TEMPO_TOLERANCE}
    if judge is not None:
        c = instrument_counts(judge, take.music16, instruments)
        out["inst_hits"], out["inst_req"], out["inst_false"], out["inst_unreq"] = (
            c["hits"], c["req"], c["false"], c["unreq"])
    mix = take.mix
    diff = loudness_lufs(mix.sfx, mix.sr) - loudness_lufs(mix.music, mix.sr)
    out["balance_err_db"] = abs(diff - balance_target_db(balance)) if math.isfinite(diff) else float("inf")
    _, _, _, hits, n_ref, n_est = onset_scores(events, effect_onsets(take.sfx16, sr))
    out["sync_hits"], out["sync_ref"], out["sync_est"] = hits, n_ref, n_est
    out["scores"] = take.report["scores"]["output"]
    return out


def measure_request(pipe, judge, request: Request, *, events: list[float], **settings) -> dict:
    """Generate `request` with `pipe` (and any further `settings`) and measure the take: one row."""
    video, tempo, inst, balance, seed = request
    take = pipe(video, request_settings(request, **settings))
    return {"video": Path(video).name, "tempo": tempo, "instruments": list(inst), "balance": balance,
            "seed": seed, **measure_take(take, judge, instruments=inst, balance=balance, events=events)}


def control_rates(rows: list[dict]) -> dict[str, float | None]:
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


def summarise(rows: list[dict]) -> dict:
    """A set of takes: their number, :func:`control_rates` and the mean of SNIO's own output scores."""
    from soundtrack.sampling.scores import mean_scores

    return {"n": len(rows), **control_rates(rows), "scores": mean_scores([row["scores"] for row in rows])}


def paired_intervals(rows_a: list[dict], rows_b: list[dict], *, n_boot: int = 2000,
                     seed: int = 0) -> dict[str, dict[str, float]]:
    """{measure: {"diff", "lo", "hi"}}: takes a minus takes b of the same requests, with the
    95 % interval of a paired bootstrap over the requests (soundtrack.evaluation.bootstrap.paired_rows)."""
    return paired_rows(rows_a, rows_b, control_rates, PAIRED_KEYS, n_boot=n_boot, seed=seed)


def ablation_config(*, grid_guidance: float | None = None, snio_at: float | None = None,
                    snio_full_grad: bool = False) -> GenerationConfig:
    """The GenerationConfig of the command's ablation options (none given: the shipped one)."""
    sampler = {} if grid_guidance is None else {"grid_guidance": grid_guidance}
    snio: dict = {} if snio_at is None else {"at": snio_at}
    if snio_full_grad:
        snio["cond_grad"] = False
    return GenerationConfig(sampler=SamplerConfig(**sampler), snio=SNIOConfig(**snio))


def evaluate_controls(*, videos: list[Path], checkpoints: Path | None = None, n_tempos: int = len(TEMPOS),
                      snio_iters: int | None = None, seed: int = 0, progress: bool = True,
                      config: GenerationConfig | None = None) -> dict:
    """Every request of `videos` with SNIO and with plain sampling, measured (module docstring).

    checkpoints: the model folder (default: the bundled one); config: how the takes are
    generated (default: as shipped; an ablation changes it).
    """
    from tqdm import tqdm

    from soundtrack.evaluation.metrics import load_judge
    from soundtrack.pipeline import Settings, SoundtrackPipeline

    pipe = SoundtrackPipeline.bundled(checkpoints, config)
    judge = load_judge(checkpoints)
    iters = Settings().snio_iters if snio_iters is None else snio_iters
    requests = control_requests(videos, n_tempos=n_tempos, seed=seed)
    rows: dict[str, list[dict]] = {"snio": [], "plain": []}
    t0 = time.perf_counter()
    for request in tqdm(requests, desc="controls", unit="request", disable=not progress):
        events = [e.time for e in pipe.plan(request[0]).events]
        for name, it in (("snio", iters), ("plain", 0)):
            rows[name].append(measure_request(pipe, judge, request, events=events, snio_iters=it))
    cfg = pipe.config
    return {"summary": {k: summarise(v) for k, v in rows.items()},
            "snio_minus_plain": paired_intervals(rows["snio"], rows["plain"]),
            "rows": rows, "snio_iters": iters,
            "snio_at": cfg.snio.at, "snio_cond_grad": cfg.snio.cond_grad,
            "grid_guidance": cfg.sampler.grid_guidance,
            "videos": [Path(v).name for v in videos], "seconds": time.perf_counter() - t0,
            "judge": judge is not None}


def markdown(result: dict) -> str:
    def f(x: object) -> str:
        return "—" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)

    s = result["summary"]
    lines = ["| sampling | requests | tempo within ±4 % | requested families detected | unrequested detected "
             "| balance within ±1 dB | sync F1 (±50 ms) | sync F1, videos with events |",
             "|---|---|---|---|---|---|---|---|"]
    snio_title = f"SNIO, {result['snio_iters']} iterations at {result['snio_at']:g} of the steps"
    for name, title in (("plain", "plain (no SNIO)"), ("snio", snio_title)):
        v = s[name]
        cells = [v["tempo_within_4pct"], v["inst_requested_detected"], v["inst_unrequested_detected"],
                 v["balance_within_1db"], v["sync_f1"], v.get("sync_f1_with_events")]
        lines.append(f"| {title} | {v['n']} | " + " | ".join(f(c) for c in cells) + " |")
    paired = result.get("snio_minus_plain")
    if paired:
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
    from soundtrack.evaluation.report import publish

    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m soundtrack.evaluation.controls")
    p.add_argument("--videos", type=Path, nargs="+", default=asset_videos())
    p.add_argument("--checkpoints", type=Path, default=None)
    p.add_argument("--tempos", type=int, default=len(TEMPOS), help="how many of the 9 tempos 60..180 to use")
    p.add_argument("--snio-iters", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid-guidance", type=float, default=None,
                   help="w_g of sdma.md eq. 14b (ablation; 0 = off)")
    p.add_argument("--snio-at", type=float, default=None, help="where SNIO optimises, as a fraction of the "
                   "sampler steps (ablation; 0 = the starting noise)")
    p.add_argument("--snio-full-grad", action="store_true",
                   help="SNIO's gradient through every guidance branch, not the conditional one (ablation)")
    p.add_argument("--json", type=Path)
    p.add_argument("--results-md", type=Path)
    args = p.parse_args(argv)
    try:
        config = ablation_config(grid_guidance=args.grid_guidance, snio_at=args.snio_at,
                                 snio_full_grad=args.snio_full_grad)
        result = evaluate_controls(videos=args.videos, checkpoints=args.checkpoints, n_tempos=args.tempos,
                                   snio_iters=args.snio_iters, seed=args.seed, config=config)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    publish(result, markdown(result), json_path=args.json, results_md=args.results_md,
            module="soundtrack.evaluation.controls", argv=argv, heading="Controls",
            detail=f"{', '.join(result['videos'])}; {result['summary']['snio']['n']} requests x 2, "
                   f"{result['seconds']:.0f} s", begin=BEGIN, end=END)
    return 0


__all__ = ["ASSETS", "BALANCES", "INSTRUMENT_SETS", "PAIRED_KEYS", "TEMPOS", "Request", "ablation_config",
           "asset_videos", "control_rates", "control_requests", "evaluate_controls", "markdown",
           "measure_request", "measure_take", "paired_intervals", "request_settings", "summarise"]

if __name__ == "__main__":
    sys.exit(main())
