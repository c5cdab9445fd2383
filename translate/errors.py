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


def unreadable_torch_file(error: Exception) -> str:
    """Why torch.load(weights_only=True) failed, in a few words: torch's own messages run to several lines
    and advise weights_only=False, which runs whatever code the file holds."""
    message = str(error)
    detail = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    if "WeightsUnpickler error:" in message:
        detail = message.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0]
        if detail.startswith("Unsupported global: GLOBAL "):
            name = detail.split()[3]
            return (f"it holds a pickled Python object ({name}), not only tensors: load it in the project that "
                    "wrote it and save its state_dict() instead")
    elif isinstance(error, EOFError) or "failed finding central directory" in message:
        return "the file is empty or cut short"
    return f"not a PyTorch file, or a damaged one: {detail}"
