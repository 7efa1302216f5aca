"""The General MIDI soundfonts the project knows, by short name, and where each one comes from.

    timgm6mb   TimGM6mb (6 MB, GPL-2), shipped inside the pretty_midi wheel: present wherever
               the requirements are installed
    fluidr3    FluidR3_GM (141 MB, MIT), Debian `fluid-soundfont-gm`
    musescore  MuseScore General (an SF3, MIT), Debian `musescore-general-soundfont`; it takes
               ~3.5 s and ~2.5 GB to load, so only SNIO's instrument classifier hears it

The corpus draws from the first two (soundtrack/corpus/synth.py); the score engine's render
(soundtrack/render/instruments.py) plays FluidR3 where it is installed (:func:`default_soundfont`).
"""
from __future__ import annotations

from pathlib import Path

from soundtrack.errors import InputError

_FLUIDR3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
# The Debian package that installs each soundfont (timgm6mb comes with pretty_midi).
_PACKAGES = {"fluidr3": "fluid-soundfont-gm", "musescore": "musescore-general-soundfont"}


def _install_step(name: str) -> str:
    return f"apt-get install {_PACKAGES[name]}" if name in _PACKAGES else "pip install pretty_midi"


def soundfont_paths() -> dict[str, Path]:
    """Known soundfonts by short name (whether installed or not)."""
    import pretty_midi

    return {
        "timgm6mb": Path(pretty_midi.__file__).with_name("TimGM6mb.sf2"),
        "fluidr3": _FLUIDR3,
        "musescore": Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
    }


def check_soundfonts(names: tuple[str, ...]) -> None:
    """Raise InputError naming the install step for any soundfont that is unknown or missing."""
    paths = soundfont_paths()
    for name in names:
        if name not in paths:
            known = ", ".join(f"{n} ({_install_step(n)})" for n in paths)
            raise InputError(f"unknown soundfont {name!r}; known: {known}")
        if not paths[name].is_file():
            raise InputError(f"soundfont {name} not found at {paths[name]} ({_install_step(name)}; "
                             "timgm6mb ships with pretty_midi and needs no other install)")


def soundfont_path(name: str) -> Path:
    """The file of soundfont `name`; InputError naming the install step if it is unknown or missing."""
    check_soundfonts((name,))
    return soundfont_paths()[name]


def default_soundfont() -> str:
    """"fluidr3" where Debian's fluid-soundfont-gm is installed, else "timgm6mb" (always present)."""
    return "fluidr3" if _FLUIDR3.is_file() else "timgm6mb"
