"""How ``mineshaft`` ends: one-line errors and conventional exit codes, never a traceback for bad input, a closed
stdout (``| head``) ending quietly with :data:`EXIT_CLOSED_PIPE`, Ctrl-C and SIGTERM with 130."""

from __future__ import annotations

import os
import signal
import sys
from typing import Optional

import typer

from ..errors import MineshaftError
from .commands import app

#: the exit status when the reader of stdout went away (``| head``): 128 + SIGPIPE, a shell's status for a
#: process that SIGPIPE ended
EXIT_CLOSED_PIPE = 141


def _closed_pipe(exc: Optional[BaseException]) -> bool:
    """Whether ``exc`` is, or was raised while handling, a write to a closed pipe (rich, printing help,
    turns one into ``SystemExit(1)``)."""
    while exc is not None:
        if isinstance(exc, BrokenPipeError):
            return True
        exc = exc.__context__
    return False


def _exit_closed_pipe() -> None:
    """End quietly with :data:`EXIT_CLOSED_PIPE`: stdout's reader is gone, so it points at /dev/null from
    here on (the interpreter's last flush must not fail). Cleanup already ran as the error unwound."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    sys.exit(EXIT_CLOSED_PIPE)


def main() -> None:
    """Entry point: one-line errors and conventional exit codes, never a traceback for bad input; a closed
    stdout ends quietly with :data:`EXIT_CLOSED_PIPE`."""
    try:
        _main()
    except SystemExit as exc:
        if _closed_pipe(exc):
            _exit_closed_pipe()
        code = exc.code
    else:
        code = 0
    try:
        sys.stdout.flush()  # a closed stdout shows here, not as a message at interpreter exit
    except BrokenPipeError:
        _exit_closed_pipe()
    sys.exit(code)


def _main() -> None:
    def _terminate(signum, frame):  # SIGTERM behaves like Ctrl-C: clean up, keep resumable state, exit 130
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        rv = app(standalone_mode=False)
        if rv == 130:  # typer turns Ctrl-C (and SIGTERM, below) into this return value, saying nothing
            print("mineshaft: interrupted", file=sys.stderr)
        if isinstance(rv, int):
            sys.exit(rv)
    except MineshaftError as exc:
        print(f"mineshaft: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("mineshaft: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # downstream closed the pipe (e.g. `| head`): not an error to report
        _exit_closed_pipe()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("mineshaft: aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click (or typer's vendored click) usage errors, and real failures
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if type(exc).__name__ == "NoArgsIsHelpError":
                sys.exit(0)  # the help text was already printed
            ctx = getattr(exc, "ctx", None)
            where = f" (see 'mineshaft {ctx.info_name} --help')" if ctx is not None and ctx.parent is not None else ""
            print(f"mineshaft: error: {' '.join(exc.format_message().split())}{where}", file=sys.stderr)
            sys.exit(exc.exit_code)
        if os.environ.get("MINESHAFT_DEBUG"):
            raise
        print(f"mineshaft: error: {type(exc).__name__}: {exc} (MINESHAFT_DEBUG=1 shows the traceback)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
