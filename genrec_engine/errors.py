"""Typed errors of the engine.

Every error a user can cause carries a message that names what is wrong (file, line, field or
config field) so the CLI can print it on one line and the GUI can show it in a dialog.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GenrecError",
    "Problem",
    "DataValidationError",
    "ConfigError",
    "ProjectFormatError",
    "Cancelled",
    "check_int",
]


class GenrecError(Exception):
    """Base class of all errors the engine raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One validation finding.

    ``line`` is 1-based and counts the header line of CSV/TSV files, so it matches what an editor
    shows; for Parquet it is the 1-based row number. ``None`` where no line applies (a missing file
    or column).
    """

    file: str
    line: int | None
    field: str | None
    message: str
    severity: str = "error"  # "error" stops loading; "warning" is reported and loading goes on

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" [{self.field}]"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "message": self.message,
            "severity": self.severity,
        }


class DataValidationError(GenrecError):
    """A dataset failed validation. ``problems`` holds every finding, errors first."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: p.severity != "error")
        errors = [p for p in self.problems if p.severity == "error"]
        head = str(errors[0]) if errors else "no errors"
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        super().__init__(head + more)


class ConfigError(GenrecError, ValueError):
    """A configuration value is invalid; the message names the field and the value."""


class ProjectFormatError(GenrecError):
    """A project folder or checkpoint cannot be read (wrong format version, truncated, missing)."""


class Cancelled(GenrecError):
    """A job stopped because its cancel token was set."""


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an ``int`` ``>= minimum``; anything else raises :class:`ConfigError` naming
    ``name`` (bools, NumPy bools and non-integers are refused)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise ConfigError(f"{name}: {value!r} is not an integer")
    try:
        value = operator.index(value)
    except TypeError:
        raise ConfigError(f"{name}: {value!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}: {value} must be >= {minimum}")
    return int(value)
