"""Evidence: how well the generator does, measured as a listener's tools would.

Commands (each prints a Markdown table and can write its section of docs/RESULTS.md):
- ablations.py  `python -m soundtrack evaluate`: the systems of systems.py on the test split
- controls.py   `python -m soundtrack.evaluation.controls`: do the musician's controls take hold?
- windows.py    `python -m soundtrack.evaluation.windows`: is the music continuous across windows?
- sweep.py      `python -m soundtrack.evaluation.sweep NAME`: a sweep of sweeps/NAME.py
- bench.py      `python -m soundtrack bench` (with bench_seed.py): how fast, against the seed pipeline
- codec.py      `python -m soundtrack.evaluation.codec`: what the VAE and vocoder lose

Their parts, imported downwards only: items.py (real and generated stems of corpus items),
leakage.py (the stem-leakage probe), metrics.py (per-item metrics), bootstrap.py (paired
differences with a bootstrap interval), report.py (tables, the JSON, the RESULTS.md section),
retrieval.py (CVSM retrieval).
"""
