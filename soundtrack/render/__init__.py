"""Render: a Score made audible and editable.

- ``soundfonts``: the known General MIDI soundfonts, their install steps, the default one.
- ``instruments``: the Score played by its parts' GM instruments, staged and in a light room (stereo).
- ``midi``: the Score as a type-1 Standard MIDI File for a DAW (``music.mid``), written atomically.

Import the submodules directly; this package imports nothing.
"""
