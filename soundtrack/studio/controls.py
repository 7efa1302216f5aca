"""The studio's controls as plain values, to and from :class:`~soundtrack.pipeline.Settings`.

The page shows one widget per value below; handlers get them as a name -> value map and
turn it into validated Settings here (no Gradio in this module, so it is tested directly):

    values = controls_from_settings(Settings(tempo=120, seed=7))   # {"tempo_auto": False, ...}
    settings_from_controls(values) == Settings(tempo=120, seed=7)  # True: a round trip

A settings JSON (`write_settings_json`) is {"settings": Settings.to_dict(), "video": name, ...};
`python -m soundtrack generate --settings FILE` reads the same file, and uploading it to the
studio restores every control (the same seed then gives the same audio).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from soundtrack.music.theory import PITCH_NAMES
from soundtrack.music.families import FAMILY_NAMES
from soundtrack.errors import InputError
from soundtrack.music.theory import MODES
from soundtrack.pipeline.settings import (DEFAULT_INSTRUMENTS, SavedSettings, Settings, parse_instruments,
                                          read_settings_json, write_settings_json)

TEMPO_SLIDER = (60.0, 180.0, 0.5)  # BPM: min, max, step
TEMPO_DEFAULT_BPM = 100.0  # where the BPM slider rests while "auto" is ticked
WEIGHT_DEFAULT = 1.0  # weight of a family ticked without a weight of its own


def weight_name(family: str) -> str:
    return f"weight_{family}"


# Every control of the Score tab, in the order the page lays them out.
CONTROL_NAMES: tuple[str, ...] = ("tempo_auto", "tempo", "families", *(weight_name(f) for f in FAMILY_NAMES),
                                  "balance", "intensity", "key", "mode", "seed", "steps", "snio_iters",
                                  "guidance")


def default_controls() -> dict[str, Any]:
    """The controls of a fresh page: Settings() defaults."""
    return controls_from_settings(Settings())


def controls_from_settings(settings: Settings) -> dict[str, Any]:
    """The control values that show `settings` (inverse of :func:`settings_from_controls`)."""
    s = settings.to_dict()
    values: dict[str, Any] = {
        "tempo_auto": s["tempo"] == "auto",
        "tempo": TEMPO_DEFAULT_BPM if s["tempo"] == "auto" else float(s["tempo"]),
        "families": [f for f in FAMILY_NAMES if f in s["instruments"]],
    }
    for f in FAMILY_NAMES:
        values[weight_name(f)] = float(s["instruments"].get(f, DEFAULT_INSTRUMENTS.get(f, WEIGHT_DEFAULT)))
    values.update(balance=s["balance"], intensity=s["intensity"], key=s["key"], mode=s["mode"],
                  seed=s["seed"], steps=s["steps"], snio_iters=s["snio_iters"], guidance=s["guidance"])
    return values


def settings_from_controls(values: Mapping[str, Any]) -> Settings:
    """Validated Settings from control values; a one-line InputError names what is wrong."""
    missing = [n for n in CONTROL_NAMES if n not in values]
    assert not missing, f"{missing=}"
    families = values["families"] or []
    unknown = [f for f in families if f not in FAMILY_NAMES]
    if unknown:
        raise InputError(f"unknown instrument family {unknown[0]!r}")
    if not families:
        raise InputError("tick at least one instrument family")
    instruments = {f: values[weight_name(f)] for f in families}  # Settings drops weights of 0
    return Settings(tempo="auto" if values["tempo_auto"] else values["tempo"], instruments=instruments,
                    balance=values["balance"], intensity=values["intensity"], key=values["key"],
                    mode=values["mode"], seed=_whole(values["seed"]), steps=_whole(values["steps"]),
                    snio_iters=_whole(values["snio_iters"]), guidance=values["guidance"])


def _whole(x: Any) -> Any:
    """Number boxes and sliders hand over 3.0 for 3: pass whole floats on as ints."""
    if isinstance(x, float) and math.isfinite(x) and x.is_integer():
        return int(x)
    return x


def settings_from_api(*, tempo: Any, instruments: Any, balance: Any, intensity: Any, key: Any, mode: Any,
                      seed: Any, steps: Any, snio_iters: Any, guidance: Any) -> Settings:
    """Settings from the `/generate` endpoint's arguments, named like the CLI options.

    instruments: "piano,strings:0.5" (as --instruments) or a {family: weight} object. Any
    wrong type or value is a one-line InputError, never a traceback.
    """
    if isinstance(instruments, Mapping):
        parsed = dict(instruments)
    elif isinstance(instruments, str):
        parsed = parse_instruments(instruments)
    else:
        raise InputError(f"instruments must be text like 'piano,strings:0.5', got {instruments!r}")
    if mode is not None and not isinstance(mode, str):
        raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return Settings(tempo=tempo, instruments=parsed, balance=balance, intensity=intensity, key=key, mode=mode,
                    seed=seed, steps=steps, snio_iters=snio_iters, guidance=guidance)


KEY_CHOICES = list(PITCH_NAMES)
MODE_CHOICES = list(MODES)

__all__ = ["CONTROL_NAMES", "KEY_CHOICES", "MODE_CHOICES", "TEMPO_SLIDER", "controls_from_settings",
           "default_controls", "settings_from_api", "settings_from_controls", "weight_name"]
