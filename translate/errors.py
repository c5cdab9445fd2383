"""Errors meant for people: the CLI prints them as one line and exits, never as a traceback."""


class UserError(Exception):
    """Something the user can fix (a bad path, a broken file, a wrong option). The message says what
    was wrong, where, and what to do."""


class ImageReadError(UserError, ValueError):
    """An image file that could not be read."""


class NonFiniteLossError(UserError):
    """A loss became NaN or infinite; training stopped without overwriting the last good checkpoint."""


def unwrapped(error: UserError) -> UserError:
    """The same error with its own one-line message, when it was raised in a DataLoader worker process:
    torch re-raises those with the worker's whole traceback as the message, and the original message
    on its last line, after the class name."""
    message = str(error)
    if "Original Traceback" not in message:
        return error
    last_line = message.rstrip().splitlines()[-1]
    return type(error)(last_line.split(": ", 1)[-1])
