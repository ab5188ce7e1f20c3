"""``genrec``: the engine's command line.

Every command takes ``--json`` and then prints exactly one JSON object on stdout; without it a
tqdm bar shows progress on stderr and a short human summary follows. Bad input exits non-zero
with one line on stderr naming what is wrong (and ``{"error": ...}`` on stdout with ``--json``).

The commands live by group: :mod:`.data` (data, tokenize), :mod:`.sids`, :mod:`.training` (train, eval,
compact), :mod:`.explore` (recommend, weights, instruct-eval, layout, coldstart-eval), :mod:`.bench`;
:mod:`.common` holds what they share.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from .. import __version__
from ..errors import Cancelled, DataValidationError, GenrecError
from ..txn import describe_os_error
from . import audit, bench, data, explore, sids, training

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genrec", description="GenRec Explorer engine: data, semantic IDs, benchmarks.")
    p.add_argument("--version", action="version", version=f"genrec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (data, sids, training, explore, bench, audit):
        group.register(sub)
    return p


def _notes_to_stderr() -> None:
    """The engine's notes (e.g. "finished an interrupted change" on opening a project) as
    ``genrec: note: ...`` lines on stderr."""
    log = logging.getLogger("genrec_engine")
    if not any(getattr(h, "_genrec_cli", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("genrec: note: %(message)s"))
        handler._genrec_cli = True
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """Run one ``genrec`` command (``argv`` without the program name; default ``sys.argv``);
    returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded in metrics.json as the command that rebuilds a checkpoint
    _notes_to_stderr()
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
    except OSError as exc:  # read-only folder, full disk, a path that cannot be encoded...
        msg = describe_os_error(exc)
    except UnicodeError as exc:
        msg = f"a path or text cannot be encoded or decoded here: {exc}"
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"error": msg}) + "\n")
    enc = getattr(sys.stderr, "encoding", None) or "utf-8"
    print(f"genrec: error: {msg}".encode(enc, "backslashreplace").decode(enc), file=sys.stderr)
    return 1
