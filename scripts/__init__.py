"""One-off measurements and maintenance commands, run from the repository root as modules:
`python -m scripts.NAME` (e.g. `python -m scripts.beat_grid_checks phase`). They import only
the package's public names. Sweeps of generation settings are configuration, not scripts:
soundtrack/evaluation/sweeps/ (`python -m soundtrack.evaluation.sweep NAME`)."""
