"""`python -m soundtrack.training STAGE --config NAME`: one training loop for every stage.

A stage (the `STAGES` table of soundtrack/training/stages.py; each stage's code in
soundtrack/training/STAGE.py) says how to build its model from a config,
how to draw batch `k` and what the loss is; this module owns everything else:
- determinism: batch k and the dropout/noise draws of step k are functions of
  (seed, k, rank), so a resumed run continues exactly as an uninterrupted one;
- resume: `RUN/last.pt` (model, optimiser, step; loaded with `weights_only=True`) is
  written every `ckpt_every` steps and at the end;
- scale-out on torch.distributed (DDP): started with `torchrun --nproc_per_node N`, each
  rank draws its own batches and gradients are averaged by DDP (gloo on CPU, nccl on GPU);
- fine-tuning: `--init RUN` starts from another run's weights (parameters that run lacks, a
  component added since, keep their initialisation and learn at `--new-lr-scale` times the
  rate); `--steps` and `--lr` replace the config's, and the run's config.json records them;
- a progress bar, and a JSON-lines log `RUN/train.log`;
- the result: `RUN/model.safetensors` + `RUN/config.json` (:func:`export`), what the app
  loads (`soundtrack.models.checkpoint.load_run`).
Under torchrun, start this module: `torchrun --nproc_per_node N -m soundtrack.training.loop STAGE ...`
(or `-m soundtrack.training`, the same `main`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

from soundtrack.errors import InputError


def _dist() -> tuple[int, int]:
    """(rank, world size); initialises the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return (torch.distributed.get_rank(), world) if world > 1 else (0, 1)


def lr_at(step: int, *, lr: float, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 10% of `lr`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(stage_name: str, config_name: str, *, run_dir: Path, corpus: Path | None = None,
          max_steps: int | None = None, seed: int = 0, progress: bool = True,
          check_sync: bool = False, overrides: dict | None = None, stop_at: int | None = None) -> dict:
    """Train (or resume) one stage; returns the final log record.

    overrides: TrainConfig fields replacing the named config's (e.g. steps, lr, init for a
    fine-tune); the run's config.json records the result. stop_at: stop (checkpoint and export)
    after this step while the learning rate follows the full schedule, unlike max_steps.
    """
    from tqdm import tqdm

    from soundtrack.training.stages import get_stage

    stage = get_stage(stage_name)
    cfg = stage.config(config_name)
    if overrides:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **overrides))
    tcfg = cfg.train
    total = tcfg.steps if max_steps is None else min(tcfg.steps, max_steps)
    end = total if stop_at is None else min(total, stop_at)  # the learning rate still follows `total`
    rank, world = _dist()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", rank % torch.cuda.device_count()) if cuda else torch.device("cpu")
    run_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(seed)
    model = stage.build(cfg).to(device)
    data = stage.data(cfg, corpus=corpus, device=device)
    # parameters the init run lacks learn at lr * new_lr_scale (a fine-tune's new component)
    init = _init_weights(Path(tcfg.init)) if tcfg.init else None
    new = _new_parameters(model, init) if init else set()
    named = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for k, p in named if k not in new], "lr_scale": 1.0},
              {"params": [p for k, p in named if k in new], "lr_scale": tcfg.new_lr_scale}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=tcfg.lr,
                            weight_decay=tcfg.weight_decay, betas=(0.9, 0.99))
    step = 0
    ckpt = run_dir / "last.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = int(state["step"])
    elif init:
        _init_from(model, init, log=run_dir / "train.log" if rank == 0 else None)
    wrapped = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    log_path = run_dir / "train.log"
    bar = tqdm(total=end, initial=step, unit="step", disable=not progress or rank != 0)
    record: dict = {}
    t0 = time.perf_counter()
    while step < end:
        torch.manual_seed(seed * 1_000_003 + step * 101 + rank)  # noise/dropout draws of step k
        batch = data.batch(step=step, rank=rank, world=world, seed=seed)
        for group in opt.param_groups:
            rate = lr_at(step, lr=tcfg.lr, warmup=tcfg.warmup, total=total)
            group["lr"] = group.get("lr_scale", 1.0) * rate
        model.train()
        loss, logs = stage.loss(wrapped, batch, step=step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        opt.step()
        step += 1
        bar.update()
        if rank == 0 and (step % tcfg.log_every == 0 or step == end):
            record = {"step": step, "loss": round(loss.item(), 5), "grad_norm": round(float(grad_norm), 4),
                      "lr": opt.param_groups[0]["lr"], "elapsed_s": round(time.perf_counter() - t0, 1),
                      **{k: round(float(v), 5) for k, v in logs.items()}}
            with log_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            bar.set_postfix(loss=record["loss"])
        if rank == 0 and (step % tcfg.ckpt_every == 0 or step == end):
            _atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, ckpt)
    bar.close()
    if check_sync and world > 1:
        _assert_in_sync(model)
    if rank == 0:
        export(model, cfg, run_dir)
    if world > 1:
        # Every rank waits for rank 0's export, then simply exits: gloo's
        # destroy_process_group() can block forever once a peer has exited first (seen in CI:
        # both ranks past this barrier, one stuck in a futex), and process exit frees the group.
        torch.distributed.barrier()
    return record


def _init_weights(run: Path) -> Path:
    """The weights file of the run a fine-tune starts from, or a one-line InputError."""
    weights = run / "model.safetensors"
    if not weights.is_file():
        raise InputError(f"no weights to start from in {run} (missing {weights.name})")
    return weights


def _new_parameters(model: torch.nn.Module, weights: Path) -> set[str]:
    """Names of the model's parameters that `weights` do not have (read from its header)."""
    from safetensors import safe_open

    with safe_open(os.fspath(weights), framework="pt") as f:
        have = set(f.keys())
    return {k for k, _ in model.named_parameters()} - have


def _init_from(model: torch.nn.Module, weights: Path, *, log: Path | None) -> None:
    """Start from another run's weights. Parameters that run lacks (a component added since)
    keep their initialisation; anything it has that this model does not, or with another
    shape, is an InputError: that run is not this model's ancestor."""
    from safetensors.torch import load_file

    run = weights.parent
    state, own = load_file(os.fspath(weights)), model.state_dict()
    foreign = sorted(k for k in state if k not in own or own[k].shape != state[k].shape)
    if foreign:
        raise InputError(f"{run} does not fit this model: {len(foreign)} tensors differ, e.g. {foreign[0]}")
    missing = sorted(set(own) - set(state))
    model.load_state_dict(state, strict=False)
    if log is not None:
        with log.open("a") as f:
            f.write(json.dumps({"init": os.fspath(run), "new_parameters": missing}) + "\n")


def _atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export(model: torch.nn.Module, cfg, run_dir: Path) -> None:
    """Weights as safetensors and the config as JSON: the shippable artefact
    (read back by `soundtrack.models.checkpoint.load_run`)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, os.fspath(run_dir / "model.safetensors"))
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))


def _assert_in_sync(model: torch.nn.Module) -> None:
    """Every rank holds the same parameters (max abs difference 0), else raise."""
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(gathered, flat)
    worst = max(float((g - gathered[0]).abs().max()) for g in gathered)
    if worst != 0.0:
        raise RuntimeError(f"ranks diverged: max parameter difference {worst}")
    if torch.distributed.get_rank() == 0:
        print(f"in sync: {len(gathered)} ranks, {flat.numel()} parameters, max difference {worst}")


def main(argv: list[str] | None = None) -> int:
    from soundtrack.training.stages import STAGES

    parser = argparse.ArgumentParser(prog="python -m soundtrack.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--config", default="small", help="named config (tiny, small, gpu)")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"), help="corpus folder")
    parser.add_argument("--run-dir", type=Path, default=None, help="run folder (default runs/STAGE-CONFIG)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop early (for smoke tests)")
    parser.add_argument("--stop-at", type=int, default=None,
                        help="stop after this step, on the full run's learning-rate schedule (an ablation "
                             "matched to a snapshot of another run; without it the same command resumes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--check-sync", action="store_true",
                        help="assert ranks hold equal weights at the end")
    parser.add_argument("--init", type=Path, default=None,
                        help="fine-tune: start from this run's weights (parameters it lacks keep their init)")
    parser.add_argument("--steps", type=int, default=None, help="total steps (replaces the config's)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (replaces the config's)")
    parser.add_argument("--new-lr-scale", type=float, default=None,
                        help="with --init: the learning rate of parameters the init run lacks, times this")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads per process (default: cores / processes)")
    args = parser.parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // world))
    run = args.run_dir or Path("runs") / f"{args.stage}-{args.config}"
    overrides = {k: v for k, v in (("init", args.init and os.fspath(args.init)), ("steps", args.steps),
                                   ("lr", args.lr), ("new_lr_scale", args.new_lr_scale)) if v is not None}
    try:
        record = train(args.stage, args.config, run_dir=run, corpus=args.corpus, max_steps=args.max_steps,
                       seed=args.seed, progress=not args.no_progress, check_sync=args.check_sync,
                       overrides=overrides, stop_at=args.stop_at)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if record:
        print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
