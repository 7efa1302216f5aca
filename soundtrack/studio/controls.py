"""The studio's controls as plain values, to and from :class:`~soundtrack.pipeline.Settings`.

The page shows one widget per value below (an instrument family is a row: on/off and a
level, 0 while off; ENSEMBLES set all rows at once); handlers get them as a name -> value
map and turn it into validated Settings here (no Gradio in this module, so it is tested
directly):

    values = controls_from_settings(Settings(tempo=120, seed=7))   # {"tempo_auto": False, ...}
    settings_from_controls(values) == Settings(tempo=120, seed=7)  # True: a round trip

A settings JSON (`write_settings_json`) is {"settings": Settings.to_dict(), "video": name, ...};
`python -m soundtrack generate --settings FILE` reads the same file, and uploading it to the
studio restores every control (the same seed then gives the same audio).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from soundtrack.music.theory import PITCH_NAMES
from soundtrack.music.families import FAMILY_NAMES
from soundtrack.errors import InputError
from soundtrack.music.theory import MODES
from soundtrack.pipeline.settings import DEFAULT_INSTRUMENTS, Settings, parse_instruments

TEMPO_SLIDER = (60.0, 180.0, 0.5)  # BPM: min, max, step
TEMPO_DEFAULT_BPM = 100.0  # where the BPM slider rests while "auto" is ticked, before auto has chosen
LEVEL_ON = 1.0  # the level a family gets when it is ticked from off
# Ensembles a musician picks from instead of setting ten families by hand (the page's presets);
# "default" is what a fresh page and the CLI ask for.
ENSEMBLES: dict[str, dict[str, float]] = {
    "default": dict(DEFAULT_INSTRUMENTS),
    "band": {"piano": 0.6, "guitar": 1.0, "bass": 0.9, "drums": 0.9},
    "orchestra": {"mallets": 0.4, "strings": 1.0, "brass": 0.7, "woodwinds": 0.8},
    "piano solo": {"piano": 1.0},
    "electronic": {"bass": 0.8, "synth": 1.0, "drums": 1.0},
}


def on_name(family: str) -> str:
    """The control that turns a family on or off."""
    return f"on_{family}"


def level_name(family: str) -> str:
    """The control that sets a family's level (0-1; 0 while the family is off)."""
    return f"level_{family}"


# Every control of the Score tab, in the order the page lays them out: per family an on/off
# box and a level (one row each).
CONTROL_NAMES: tuple[str, ...] = ("tempo_auto", "tempo",
                                  *(name for f in FAMILY_NAMES for name in (on_name(f), level_name(f))),
                                  "balance", "intensity", "key", "mode", "seed", "steps", "snio_iters",
                                  "guidance")


def default_controls() -> dict[str, Any]:
    """The controls of a fresh page: Settings() defaults."""
    return controls_from_settings(Settings())


def family_controls(instruments: Mapping[str, float]) -> dict[str, Any]:
    """The on/off and level controls that show an instrumentation: an unlisted family is off at level 0."""
    values: dict[str, Any] = {}
    for f in FAMILY_NAMES:
        values[on_name(f)] = f in instruments
        values[level_name(f)] = float(instruments.get(f, 0.0))
    return values


def controls_from_settings(settings: Settings) -> dict[str, Any]:
    """The control values that show `settings` (inverse of :func:`settings_from_controls`)."""
    s = settings.to_dict()
    values: dict[str, Any] = {
        "tempo_auto": s["tempo"] == "auto",
        "tempo": TEMPO_DEFAULT_BPM if s["tempo"] == "auto" else float(s["tempo"]),
        **family_controls(s["instruments"]),
    }
    values.update(balance=s["balance"], intensity=s["intensity"], key=s["key"], mode=s["mode"],
                  seed=s["seed"], steps=s["steps"], snio_iters=s["snio_iters"], guidance=s["guidance"])
    return values


def instruments_from_controls(values: Mapping[str, Any]) -> dict[str, float]:
    """family -> level of the families that are on (FAMILY_NAMES order)."""
    return {f: values[level_name(f)] for f in FAMILY_NAMES if values[on_name(f)]}


def ensemble_of(instruments: Mapping[str, float]) -> str | None:
    """The ensemble whose instrumentation this is exactly, else None (a custom one)."""
    wanted = {f: round(float(w), 2) for f, w in instruments.items() if w > 0}
    for name, ensemble in ENSEMBLES.items():
        if wanted == {f: round(w, 2) for f, w in ensemble.items()}:
            return name
    return None


def settings_from_controls(values: Mapping[str, Any]) -> Settings:
    """Validated Settings from control values; a one-line InputError names what is wrong."""
    missing = [n for n in CONTROL_NAMES if n not in values]
    assert not missing, f"{missing=}"
    instruments = instruments_from_controls(values)
    if not instruments:
        raise InputError("turn on at least one instrument family")
    silent = [f for f, w in instruments.items() if not w > 0]
    if silent:
        raise InputError(f"{silent[0]} is on at level 0: raise its level or turn it off")
    return Settings(tempo="auto" if values["tempo_auto"] else values["tempo"], instruments=instruments,
                    balance=values["balance"], intensity=values["intensity"], key=values["key"],
                    mode=values["mode"], seed=_whole(values["seed"]), steps=_whole(values["steps"]),
                    snio_iters=_whole(values["snio_iters"]), guidance=values["guidance"])


def instruments_in_words(instruments: Mapping[str, float]) -> str:
    """{"piano": 1.0, "strings": 0.7} -> "piano, strings 0.7" (a level is named when it is below 1)."""
    return ", ".join(f if w >= 1 else f"{f} {w:.2g}" for f, w in instruments.items())


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

__all__ = ["CONTROL_NAMES", "ENSEMBLES", "KEY_CHOICES", "LEVEL_ON", "MODE_CHOICES", "TEMPO_SLIDER",
           "controls_from_settings", "default_controls", "ensemble_of", "family_controls",
           "instruments_from_controls",
           "instruments_in_words", "level_name", "on_name", "settings_from_api", "settings_from_controls"]
