"""``python -m mineshaft`` and the ``mineshaft`` command: the command line is imported here, inside the handler of
Ctrl-C, so that an interrupt while it loads ends as one later would (a line and 130), not with a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from .cli.entry import main as run
    except KeyboardInterrupt:
        print("mineshaft: interrupted", file=sys.stderr)
        sys.exit(130)
    run()


if __name__ == "__main__":
    main()
