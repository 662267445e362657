"""The errors adain raises for its users: every one carries a message meant to be shown as is.

The command line and the web server turn exactly these into a one-line error
(exit code 2, HTTP 4xx); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class AdainError(Exception):
    """Base of every error whose message is meant for the user."""


class InputError(AdainError, ValueError):
    """Bad user input (file or parameter); the message names the file and the problem."""


class UsageError(AdainError, ValueError):
    """A bad parameter (a value out of range, options that do not go together)."""


class WeightsError(AdainError, RuntimeError):
    """Model weights that are missing or unreadable."""
