"""Copy the recorded-effects library into assets/effects/ (run once, on a machine with the Debian
sound packages; the result is committed, so a fresh machine needs no apt):

    .venv/bin/python scripts/make_effects_library.py

Each recording is read from its Debian package, mixed to mono, resampled to 48 kHz, trimmed
(or padded) so that its first onset (the first sample above 10 % of its peak) is 1 ms in, cut
to at most MAX_S with a 50 ms fade-out, peak-normalised to -1 dBFS and written as Ogg Vorbis; the
manifest assets/effects/index.json lists each file's kind, source package, source path,
licence and copyright. assets/CREDITS.md lists the same (written by hand from this table).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "assets" / "effects"
SR = 48_000
MAX_S = 1.0
FREECIV = Path("/usr/share/games/freeciv/stdsounds")
FROZEN = Path("/usr/share/games/frozen-bubble/snd")
FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")
FREECIV_C = ("freeciv-data", "GPL-2+", "The Freeciv project")
FROZEN_C = ("frozen-bubble-data", "GPL-2", "2000-2010 The Frozen-Bubble Team")
# (kind, source, (Debian package, licence, copyright)); kinds are the picture's event types
LIBRARY: tuple[tuple[str, Path, tuple[str, str, str]], ...] = (
    ("impact", FREECIV / "wall01.ogg", FREECIV_C),
    ("impact", FREECIV / "woodbrk.ogg", FREECIV_C),
    ("impact", FREECIV / "metbrk.ogg", FREECIV_C),
    ("impact", FREECIV / "foot3.ogg", FREECIV_C),
    ("impact", FREECIV / "MedCan.ogg", FREECIV_C),
    ("impact", FROZEN / "stick.ogg", FROZEN_C),
    ("impact", FROZEN / "rebound.ogg", FROZEN_C),
    ("flash", FROZEN / "launch.ogg", FROZEN_C),
    ("flash", FREEDESKTOP / "message.oga", ("sound-theme-freedesktop", "CC-BY-SA-3.0", "Ivica Bukvic")),
    ("flash", FREEDESKTOP / "bell.oga", ("sound-theme-freedesktop", "CC-BY-3.0", "Dr. Richard Boulanger et al")),
    ("flash", FREEDESKTOP / "camera-shutter.oga",
     ("sound-theme-freedesktop", "CC-BY-SA-3.0", "freesound user horsthorstensen")),
    ("cut", FREECIV / "Mortar.ogg", FREECIV_C),
    ("cut", FREECIV / "SmlExpl.ogg", FREECIV_C),
    ("cut", FREECIV / "LrgExpl.ogg", FREECIV_C),
)


def prepared(path: Path) -> np.ndarray:
    """(T,) float32 at 48 kHz: mono, onset at 1 ms, at most MAX_S, peak -1 dBFS."""
    audio, sr = sf.read(path, always_2d=True, dtype="float32")  # (T, C)
    mono = audio.mean(axis=1)
    if sr != SR:
        mono = soxr.resample(mono, sr, SR).astype(np.float32)
    env = np.abs(mono)
    first, lead = int(np.argmax(env > 0.1 * env.max())), SR // 1000
    # the onset exactly 1 ms in (silence prepended where the file starts on it)
    x = np.concatenate([np.zeros(max(0, lead - first), np.float32), mono[max(0, first - lead):]])
    x = x[:int(MAX_S * SR)].copy()
    fade = min(len(x), SR // 20)
    x[len(x) - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return (x * (10 ** (-1 / 20) / np.abs(x).max())).astype(np.float32)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    entries = []
    for kind, src, (package, licence, copyright_) in LIBRARY:
        name = f"{kind}-{src.stem.lower()}.ogg"
        sf.write(OUT / name, prepared(src), SR, format="OGG", subtype="VORBIS")
        entries.append({"file": name, "kind": kind, "package": package, "source": str(src),
                        "licence": licence, "copyright": copyright_})
    (OUT / "index.json").write_text(json.dumps({"sample_rate": SR, "recordings": entries}, indent=1) + "\n")
    total = sum((OUT / e["file"]).stat().st_size for e in entries)
    print(f"{len(entries)} recordings, {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
