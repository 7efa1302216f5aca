"""The one exception type that reaches a user.

Anything the user can get wrong (a broken file, an out-of-range control) raises
:class:`InputError` with a one-line message; entry points print it and exit 2 (CLI) or
show it (studio). Everything else is a bug and may carry a traceback.
"""


class InputError(ValueError):
    """Bad user input: the message is one line, meant for the user."""
