"""Errors meant for the user: one line, naming the file, field or flag and how to fix it."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input. The CLI prints it on one line and exits with status 2."""

    exit_code = 2


class MissingDataError(UserError):
    """Data for a task is not where it is expected; the message says which command prepares it."""


class PluginError(UserError):
    """A model, task or backend could not be resolved or registered."""
