"""The one exception type that commands turn into a clear message and a non-zero exit."""


class TaumlError(Exception):
    """Bad input or configuration; the message names the file or option and the problem."""
