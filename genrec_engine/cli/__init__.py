"""``genrec``: the engine's command line.

Every command takes ``--json`` and then prints exactly one JSON object on stdout; without it a
tqdm bar shows progress on stderr and a short human summary follows. Bad input exits non-zero
with one line on stderr naming what is wrong (and ``{"error": ...}`` on stdout with ``--json``).

The commands live by group: :mod:`.data` (data, tokenize), :mod:`.sids`, :mod:`.training` (train, eval,
compact), :mod:`.explore` (recommend, instruct-eval, layout, coldstart-eval), :mod:`.bench`;
:mod:`.common` holds what they share.
"""
from __future__ import annotations

import argparse
import json
import sys

from .. import __version__
from ..errors import Cancelled, DataValidationError, GenrecError
from . import audit, bench, data, explore, sids, training

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genrec", description="GenRec Explorer engine: data, semantic IDs, benchmarks.")
    p.add_argument("--version", action="version", version=f"genrec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (data, sids, training, explore, bench, audit):
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one ``genrec`` command (``argv`` without the program name; default ``sys.argv``);
    returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded in metrics.json as the command that rebuilds a checkpoint
    try:
        return int(args.func(args) or 0)
    except DataValidationError as exc:
        msg = str(exc)
    except Cancelled:
        msg = "cancelled"
    except GenrecError as exc:
        msg = str(exc)
    except KeyboardInterrupt:
        msg = "interrupted"
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"error": msg}) + "\n")
    print(f"genrec: error: {msg}", file=sys.stderr)
    return 1
