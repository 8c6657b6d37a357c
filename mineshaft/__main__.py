"""``python -m mineshaft`` and the ``mineshaft`` command: the command line is imported here, inside the handler of
Ctrl-C and with SIGTERM already turned into it, so that an interrupt while it loads ends as one later would (a line
and 130), not with a traceback or a silent death."""

from __future__ import annotations

import signal
import sys


def _terminate(signum, frame):  # SIGTERM behaves like Ctrl-C (cli.entry sets the same once loaded)
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        from .cli.entry import main as run
    except KeyboardInterrupt:
        print("mineshaft: interrupted", file=sys.stderr)
        sys.exit(130)
    run()


if __name__ == "__main__":
    main()
