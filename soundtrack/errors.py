"""The one exception type that reaches a user.

Anything the user can get wrong (a broken file, an out-of-range control) raises
:class:`InputError` with a one-line message; entry points print it and exit 2 (CLI) or
show it (studio). Everything else is a bug and may carry a traceback.
"""


class InputError(ValueError):
    """Bad user input: the message is one line, meant for the user."""


def readable_file(path, *, kind: str):
    """`path` as an absolute Path if it names a non-empty regular file, else a one-line InputError.

    `kind` names what was expected ("audio", "video") in the message. Absolute, because
    FFmpeg (PyAV) reads a relative name like "pipe:1.mp4" or "data:,x.mp4" as a protocol
    rather than a file: every reader opens the path this returns.
    """
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise InputError(f"{kind} file not found: {path}")
    if not path.is_file():
        raise InputError(f"not a {kind} file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is empty (0 bytes)")
    return path.absolute()
