"""The one error type bad input raises; the CLI turns it into one line on stderr and exit code 2."""


class InputError(Exception):
    """Bad input from the user: the message names the file, line and field, and what was expected."""
