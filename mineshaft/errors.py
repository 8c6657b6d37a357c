"""Exceptions that hold a user-facing message and an exit code."""

from __future__ import annotations


class MineshaftError(Exception):
    """A problem with the user's input or options: one line on stderr, exit code 2."""

    exit_code = 2


class InputError(MineshaftError):
    """An input file is missing, empty, undecodable or malformed."""


class UsageError(MineshaftError):
    """An option value or a combination of options makes no sense."""
