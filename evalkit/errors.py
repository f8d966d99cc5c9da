"""The errors that reach a user: the CLI turns each into one line on stderr and exit code 2."""


class InputError(Exception):
    """Bad input from the user: the message names the file, line and field, and what was expected."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, `docker stop`, a scheduler), raised where the program is, as Ctrl-C is:
    every cleanup Ctrl-C runs runs (a vLLM engine's processes are shut down, not left holding the GPU)."""


class ServerError(RuntimeError):
    """The engines failed for good: a request refused, no server answering, no replica left.
    The run stops; what was made is saved, and a rerun resumes."""
