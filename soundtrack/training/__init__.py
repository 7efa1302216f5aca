"""Training: one loop for every stage, and each stage's batches and loss.

    python -m soundtrack.training STAGE --config NAME --corpus corpus   # docs/TRAINING.md

- `loop.py`: the loop (determinism, resume, DDP, fine-tuning, logs) and `export`, which
  writes the run that `soundtrack.models.checkpoint.load_run` reads back;
- `stages.py`: the table of stages and the contract a stage keeps;
- `vae.py`, `vocoder.py`, `cvsm.py`, `ldm.py`, `instruments.py`: the stages (corpus
  batching, augmentation, losses), plus `ldm.benchmark` and the instrument detectors'
  evaluation command (`python -m soundtrack.training.instruments eval`).
The networks and their named configs are soundtrack/models/; nothing there imports this package.
"""
