"""Interchange with the field's semantic-ID tooling: read and write foreign SID tables
(:mod:`.formats`), build projects from them (:mod:`.importer`), and parse SIDs written as text
(:mod:`.sidtext`)."""
from __future__ import annotations

from .sidtext import SIDTextError, format_sid, parse_sid

__all__ = ["SIDTextError", "parse_sid", "format_sid"]
