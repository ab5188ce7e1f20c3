"""What every ``genrec`` command shares: the progress bar, printing, argument parsing helpers."""
from __future__ import annotations

import json
import os
import sys

from ..errors import GenrecError
from ..fileio import json_default
from ..generators import KINDS

__all__ = ["Bar", "add_command", "add_encoder_options", "fields_of", "add_generator_command", "command_line", "emit", "int_list", "write_out",
           "whole", "real", "json_object", "MAX_BEAM", "MAX_K"]

MAX_BEAM = 1024  # beams per user; evaluation batches shrink as the beam grows, so memory stays bounded
MAX_K = 1000  # items per list


class Bar:
    """A tqdm bar on stderr driven by the engine's ``progress(fraction, message)`` callable; a
    no-op when not ``enabled`` (``--json``). Use it as a context manager (closed on exit)."""

    def __init__(self, enabled: bool, desc: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=1000, desc=desc, file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed} {postfix}")

    def __call__(self, fraction: float, message: str) -> None:
        if self.bar is not None:
            self.bar.n = int(fraction * 1000)
            self.bar.set_postfix_str(message[:60], refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def add_command(parent, name: str, help_: str, func):
    """A sub-command of ``parent`` (a subparsers object) that runs ``func(args)`` and takes ``--json``."""
    sp = parent.add_parser(name, help=help_, description=help_)
    sp.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    sp.set_defaults(func=func)
    return sp


def add_encoder_options(sp) -> None:
    """``--encoder``, ``--embeddings`` and ``--fields``: how a command embeds the catalogue
    (``genrec tokenize``, ``genrec sids import``); :func:`fields_of` reads ``--fields``."""
    sp.add_argument("--encoder", choices=("minilm", "structured", "npy"), default="minilm")
    sp.add_argument("--embeddings", help=".npy file of precomputed embeddings (with --encoder npy)")
    sp.add_argument("--fields", default="title,brand,categories", help="item fields fed to the text encoder")


def fields_of(args) -> tuple[str, ...]:
    """The ``--fields`` option as a tuple of field names."""
    return tuple(f.strip() for f in args.fields.split(",") if f.strip())


def add_generator_command(parent, name: str, help_: str, func):
    """:func:`add_command` for a command on one of a project's generators: ``--project DIR
    --model {ran,tiger,sasrec}``, both required."""
    sp = add_command(parent, name, help_, func)
    sp.add_argument("--project", required=True)
    sp.add_argument("--model", required=True, choices=KINDS)
    return sp


def whole(lo: int = 1, hi: int | None = None):
    """An argparse ``type`` for an integer in ``lo..hi``: anything else is refused with one line
    (``argument --beam: 100000 is too large (at most 1024)``) before any work starts."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value} is too small (at least {lo})")
        if hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"{value} is too large (at most {hi})")
        return value

    parse.__name__ = "whole number"
    return parse


def real(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False):
    """An argparse ``type`` for a finite number in ``[lo, hi]`` (open ends with ``lo_open`` /
    ``hi_open``)."""
    import argparse
    import math

    def parse(text: str) -> float:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if lo is not None and (value < lo or (lo_open and value == lo)):
            raise argparse.ArgumentTypeError(f"{value:g} must be {'above' if lo_open else 'at least'} {lo:g}")
        if hi is not None and (value > hi or (hi_open and value == hi)):
            raise argparse.ArgumentTypeError(f"{value:g} must be {'below' if hi_open else 'at most'} {hi:g}")
        return value

    parse.__name__ = "number"
    return parse


def json_object(text: str) -> dict:
    """An argparse ``type`` for a JSON object (``--model-config``)."""
    import argparse

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at column {exc.colno}): {text[:80]!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"d_model\": 64}}', got {text[:80]!r}")
    return value


json_object.__name__ = "JSON object"


def emit(args, obj: dict, human: str | None = None) -> None:
    """Print ``obj`` as one JSON line (``--json``), else ``human`` (or indented JSON)."""
    if args.json:
        sys.stdout.write(json.dumps(obj, default=json_default) + "\n")
    else:
        sys.stdout.write((human if human is not None else json.dumps(obj, indent=2, default=json_default)) + "\n")


def int_list(text: str, what: str) -> list[int]:
    """``"1, 2,3"`` -> ``[1, 2, 3]``; anything else raises GenrecError naming the option ``what``."""
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError:
        raise GenrecError(f"{what}: expected comma-separated integers, got {text!r}") from None


def command_line(args) -> str:
    """The ``genrec ...`` command being run (with OMP_NUM_THREADS when set), for metrics.json."""
    import shlex

    threads = os.environ.get("OMP_NUM_THREADS")
    return (f"OMP_NUM_THREADS={threads} " if threads else "") + shlex.join(["genrec", *args.argv])


def write_out(args, obj: dict) -> None:
    """Also write ``obj`` to ``--out`` (atomically) when given."""
    if args.out:
        from ..fileio import write_json_atomic

        write_json_atomic(args.out, obj)
