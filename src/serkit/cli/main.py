"""``serkit`` command: one sub-command per module in this package.

Each sub-command module exposes ``add_parser(subparsers)`` and ``run(args) -> int``; heavy
imports happen inside ``run`` so that ``serkit --help`` is instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from serkit import __version__
from serkit.cli import (
    demo,
    evaluate,
    export,
    features,
    plot,
    predict,
    prepare,
    pretrain,
    serve,
    train,
)
from serkit.cli.common import quiet_progress
from serkit.errors import SerkitError

#: sub-commands in help order
COMMANDS = [
    prepare,
    features,
    pretrain,
    train,
    evaluate,
    predict,
    serve,
    export,
    plot,
    demo,
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    p = argparse.ArgumentParser(prog="serkit", description="Speech emotion recognition toolkit.")
    p.add_argument("--version", action="version", version=f"serkit {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        mod.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (1 for a serkit error, printed without traceback)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.command:
        parser.print_help()
        return 0
    try:
        with quiet_progress(getattr(args, "no_progress", False)):
            return int(args.func(args) or 0)
    except (SerkitError, FileNotFoundError) as e:
        if args.verbose:
            raise
        print(f"serkit {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
