"""The one exception type that means "the user asked for something impossible"."""


class NSTError(Exception):
    """A bad input or setting: reported as one line on stderr with exit code 2, never a traceback."""
