"""The one exception type that commands turn into a clear message and a non-zero exit."""


class TaumlError(Exception):
    """Bad input or configuration; the message names the file or option and the problem."""


class OutputError(TaumlError, OSError):
    """An output could not be written (not a directory, permission, disk full); the message names the path.

    Also an ``OSError``, so code that tolerates a failed optional write (a cache) can still catch it as one.
    """
