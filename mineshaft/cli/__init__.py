"""The ``mineshaft`` command line: parse, validate, delegate. Data goes to stdout, everything else to stderr.

:mod:`~mineshaft.cli.options` declares the shared options once, :mod:`~mineshaft.cli.commands` holds the commands,
:mod:`~mineshaft.cli.entry` the entry point and its exit codes."""

from __future__ import annotations

from .commands import app
from .entry import EXIT_CLOSED_PIPE, main

__all__ = ["app", "main", "EXIT_CLOSED_PIPE"]
