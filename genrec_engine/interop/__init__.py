"""Interchange with the field's semantic-ID tooling: read and write foreign SID tables
(:mod:`.formats`), build projects from them (:mod:`.importer`), parse SIDs written as text
(:mod:`.sidtext`), and import LETTER / LC-Rec / MiniOneRec catalogues as dataset folders
(:mod:`.letter_data`)."""
from __future__ import annotations

from .letter_data import import_letter
from .sidtext import SIDTextError, format_sid, parse_sid

__all__ = ["SIDTextError", "parse_sid", "format_sid", "import_letter"]
