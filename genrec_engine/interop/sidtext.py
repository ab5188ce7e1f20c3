"""One SID as text or JSON, in the conventions the field uses, parsed to a tuple of ints.

Accepted spellings of the SID ``(12, 7, 201)``:

- a list of ints: ``[12, 7, 201]``;
- LETTER / LC-Rec / MiniOneRec tokens, as one string or a list of strings:
  ``"<a_12><b_7><c_201>"``, ``["<a_12>", "<b_7>", "<c_201>"]`` (level l carries the l-th letter
  a, b, c, ...; a token of the wrong level is refused);
- a joined string: ``"12-7-201"`` (also ``"12,7,201"`` or ``"12 7 201"``).

:func:`format_sid` writes the ``letter`` and ``strings`` spellings back.
"""
from __future__ import annotations

import re

from ..errors import GenrecError

__all__ = ["SIDTextError", "parse_sid", "format_sid", "level_letter"]

_TOKEN = re.compile(r"<([a-z])_(-?\d+)>")
_JOINED = re.compile(r"^\s*\d+(\s*[-,\s]\s*\d+)*\s*$")


class SIDTextError(GenrecError):
    """A SID could not be read; the message says what was found (the caller adds file and line)."""


def level_letter(level: int) -> str:
    """The LETTER convention's prefix of level ``level`` (0 -> "a", 1 -> "b", ...)."""
    if not 0 <= level < 26:
        raise SIDTextError(f"level {level}: the letter convention has levels a..z only")
    return chr(ord("a") + level)


def _tokens(text: str) -> tuple[int, ...]:
    parts = _TOKEN.findall(text)
    if not parts or _TOKEN.sub("", text).strip():
        raise SIDTextError(f"{text!r} is not a SID (expected tokens like <a_12><b_7> or codes like 12-7-201)")
    out = []
    for level, (letter, code) in enumerate(parts):
        if letter != level_letter(level):
            raise SIDTextError(f"{text!r}: token {level + 1} is <{letter}_{code}>, expected level letter "
                               f"{level_letter(level)!r}")
        out.append(int(code))
    return tuple(out)


def parse_sid(value) -> tuple[int, ...]:
    """The codes of one SID given in any accepted spelling (see the module docstring).

    Raises :class:`SIDTextError` for anything else: an empty SID, a float, a bool, a malformed
    token, a negative code. The caller names the file and line."""
    if isinstance(value, str):
        text = value.strip()
        if "<" in text:
            codes = _tokens(text)
        elif _JOINED.match(text):
            codes = tuple(int(t) for t in re.split(r"\s*[-,\s]\s*", text) if t)
        else:
            raise SIDTextError(f"{value!r} is not a SID (expected tokens like <a_12><b_7> or codes like 12-7-201)")
    elif isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else list(value)
        if items and all(isinstance(t, str) for t in items):
            codes = _tokens("".join(t.strip() for t in items))
        else:
            bad = [t for t in items if isinstance(t, bool) or not isinstance(t, int)]
            if bad:
                raise SIDTextError(f"{items!r}: codes must be integers, found {bad[0]!r}")
            codes = tuple(int(t) for t in items)
    else:
        raise SIDTextError(f"{value!r} is not a SID (expected a list of codes or a string)")
    if not codes:
        raise SIDTextError("empty SID")
    neg = [c for c in codes if c < 0]
    if neg:
        raise SIDTextError(f"{value!r}: code {neg[0]} is negative")
    return codes


def format_sid(codes, style: str = "strings") -> str:
    """``(12, 7, 201)`` as ``"12-7-201"`` (``style="strings"``) or ``"<a_12><b_7><c_201>"``
    (``style="letter"``)."""
    codes = [int(c) for c in codes]
    if style == "strings":
        return "-".join(map(str, codes))
    if style == "letter":
        return "".join(f"<{level_letter(l)}_{c}>" for l, c in enumerate(codes))
    raise SIDTextError(f"style={style!r}: expected 'strings' or 'letter'")
