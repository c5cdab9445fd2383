"""Errors meant for people: the CLI prints them as one line and exits, never as a traceback."""


class UserError(Exception):
    """Something the user can fix (a bad path, a broken file, a wrong option). The message says what
    was wrong, where, and what to do."""


class ImageReadError(UserError, ValueError):
    """An image file that could not be read."""


class NonFiniteLossError(UserError):
    """A loss became NaN or infinite; training stopped without overwriting the last good checkpoint."""
