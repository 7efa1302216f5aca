"""Loading the trained models of one generator: run folders -> :class:`Models` (eval mode, frozen).

Architectures live in soundtrack/models/; where their weights are is
soundtrack/models/checkpoint.py's one table of folders. Plain functions: callers cache the
result (the studio's :class:`~soundtrack.studio.state.StudioState`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from soundtrack.errors import InputError
from soundtrack.models.checkpoint import FOLDERS, checkpoint_root


@dataclass(frozen=True)
class Models:
    """The trained models of one generator, and where they came from."""

    vae: torch.nn.Module  # MelVAE
    vocoder: torch.nn.Module  # Vocoder
    cvsm: torch.nn.Module  # CVSM
    ldm: torch.nn.Module  # SoundtrackLDM
    vae_run: Path
    vocoder_run: Path
    cvsm_run: Path
    ldm_run: Path
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    instruments: torch.nn.Module | None = None  # SNIO's instrument classifier (optional)
    instruments_run: Path | None = None

    def runs(self) -> dict[str, str]:
        """Run directories by stage, for reports."""
        runs = {"vae": str(self.vae_run), "vocoder": str(self.vocoder_run), "cvsm": str(self.cvsm_run),
                "ldm": str(self.ldm_run)}
        if self.instruments_run is not None:
            runs["instruments"] = str(self.instruments_run)
        return runs

    def with_ldm(self, ldm_run: Path | str) -> Models:
        """The same codec, CVSM and classifier with another diffusion model (an ablation beside the
        full model: only its UNet is loaded; the other modules are shared, frozen)."""
        ldm_run = _require_run(Path(ldm_run), "ldm")
        return dataclasses.replace(self, ldm=_load_ldm_for(self.cvsm, ldm_run, cvsm_run=self.cvsm_run,
                                                           device=self.device), ldm_run=ldm_run)


def _require_run(run: Path, stage: str) -> Path:
    run = Path(run)
    if not (run / "config.json").is_file() or not (run / "model.safetensors").is_file():
        raise InputError(f"no trained {stage} in {run} (need config.json and model.safetensors): "
                         f"python -m soundtrack.training {stage} --run-dir {run}")
    return run


def _load_ldm_for(cvsm: torch.nn.Module, ldm_run: Path, *, cvsm_run: Path,
                  device: torch.device) -> torch.nn.Module:
    """The diffusion model of `ldm_run`, frozen, checked against the CVSM whose tokens it reads."""
    from soundtrack.models.ldm import load_ldm

    ldm = load_ldm(ldm_run, device=device)
    if cvsm.cfg.token_dim != ldm.cfg.video_dim:
        raise InputError(f"the CVSM run {cvsm_run} gives {cvsm.cfg.token_dim}-wide tokens but the LDM "
                         f"run {ldm_run} expects {ldm.cfg.video_dim}: pair the runs trained together")
    return ldm.eval().requires_grad_(False)


def load_models(*, vae_run: Path | str, vocoder_run: Path | str, cvsm_run: Path | str,
                ldm_run: Path | str, instruments_run: Path | str | None = None,
                device: torch.device | str = "cpu") -> Models:
    """Load the runs in eval mode, gradients off (a plain function: callers cache the result).

    instruments_run: SNIO's instrument classifier; None (or a missing folder) leaves the
    instrumentation score out of SNIO.
    """
    from soundtrack.models.cvsm import load_cvsm
    from soundtrack.models.instruments import load_instrument_classifier
    from soundtrack.models.vae import load_vae
    from soundtrack.models.vocoder import load_vocoder

    device = torch.device(device)
    runs = {stage: _require_run(Path(run), stage) for stage, run in
            (("vae", vae_run), ("vocoder", vocoder_run), ("cvsm", cvsm_run), ("ldm", ldm_run))}
    cvsm = load_cvsm(runs["cvsm"]).to(device)
    ldm = _load_ldm_for(cvsm, runs["ldm"], cvsm_run=runs["cvsm"], device=device)
    vae, vocoder = load_vae(runs["vae"], device=device), load_vocoder(runs["vocoder"], device=device)
    classifier = None
    if instruments_run is not None and (Path(instruments_run) / "model.safetensors").is_file():
        classifier = load_instrument_classifier(Path(instruments_run)).to(device).eval()
    else:
        instruments_run = None
    for m in (cvsm, ldm, vae, vocoder, classifier):
        if m is not None:
            m.eval().requires_grad_(False)
    return Models(vae=vae, vocoder=vocoder, cvsm=cvsm, ldm=ldm, vae_run=runs["vae"],
                  vocoder_run=runs["vocoder"], cvsm_run=runs["cvsm"], ldm_run=runs["ldm"], device=device,
                  instruments=classifier, instruments_run=None if instruments_run is None else Path(instruments_run))


DIFFUSION_FOLDERS = ("ldm", "ldm-nosdma", "score", "score-nosdma")


def load_bundled(root: Path | str | None = None, *, ldm: str = "ldm", device: str = "cpu") -> Models:
    """The model in :func:`~soundtrack.models.checkpoint.checkpoint_root` (the shipped
    `checkpoints/` by default), offline.

    ldm: the diffusion folder's stage: "ldm" (SDMA) or "ldm-nosdma" (the ablation) of the neural
    engine, "score" or "score-nosdma" of the score engine.
    """
    root = checkpoint_root(root)
    if ldm not in DIFFUSION_FOLDERS:
        raise InputError(f"unknown diffusion model {ldm!r}; known: {', '.join(DIFFUSION_FOLDERS)}")
    def have(stage: str) -> bool:
        return (root / FOLDERS[stage] / "model.safetensors").is_file()

    # a folder with the codec but no score model: say how to train it (without the codec, load_models
    # names the first missing stage)
    if ldm.startswith("score") and not have(ldm) and have("vae"):
        config = "score-small" if ldm == "score" else "score-small-nosdma"
        folder = root / FOLDERS[ldm]
        raise InputError(f"the score engine has no trained model in {folder} yet (docs/TRAINING.md: "
                         f"python -m soundtrack.training ldm --config {config} --corpus corpus --init "
                         f"checkpoints/ldm --run-dir {folder})"
                         + ("; --engine neural works now" if have("ldm") else ""))
    return load_models(vae_run=root / FOLDERS["vae"], vocoder_run=root / FOLDERS["vocoder"],
                       cvsm_run=root / FOLDERS["cvsm"], ldm_run=root / FOLDERS[ldm],
                       instruments_run=root / FOLDERS["instruments"], device=device)


__all__ = ["Models", "load_bundled", "load_models"]
