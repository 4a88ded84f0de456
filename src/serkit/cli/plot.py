"""``serkit plot``: figures from predictions and reports (``serkit plot timeline ...``)."""

from __future__ import annotations

from serkit.cli import plot_timeline


def add_parser(sub) -> None:
    """Register the sub-command and its plot kinds."""
    p = sub.add_parser("plot", help="draw figures from predictions and reports", description=__doc__)
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    plot_timeline.add_timeline(kinds)
