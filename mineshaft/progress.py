"""Progress bars and log lines on stderr (stdout is reserved for data)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True, highlight=False, soft_wrap=True)
_quiet = True  # libraries stay silent; the CLI turns progress on
_running: list[str] = []  # the steps (:func:`task`) running now, innermost last


def set_quiet(quiet: bool) -> None:
    """Silence progress bars and info lines (warnings and errors still print)."""
    global _quiet
    _quiet = quiet


def info(message: str) -> None:
    if not _quiet:
        console.print(message, markup=False)


def warn(message: str) -> None:
    """A warning on stderr (even when quiet); one given while a step runs names the step (``encoding src``), so the
    same warning about each side of a job reads as two different lines."""
    where = f"{_running[-1]}: " if _running else ""
    console.print(f"warning: {where}{message}", markup=False, style="yellow")


@contextlib.contextmanager
def task(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar for one step; yields ``advance(n)``. Warnings given meanwhile name the step."""
    _running.append(description)
    try:
        if _quiet:
            yield lambda n: None
            return
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn()]
        with Progress(*columns, console=console, transient=False) as bar:
            tid = bar.add_task(description, total=total)
            yield lambda n: bar.advance(tid, n)
    finally:
        _running.remove(description)
