"""Interchange with the field's semantic-ID tooling: read and write foreign SID tables
(:mod:`.formats`), build projects from them (:mod:`.importer`), parse SIDs written as text
(:mod:`.sidtext`), import LETTER / LC-Rec / MiniOneRec catalogues as dataset folders
(:mod:`.letter_data`), and audit any generator's ranked lists against a project (:mod:`.audit`)."""
from __future__ import annotations

from .audit import AuditReport, Generations, audit_generations, read_generations, write_generations
from .letter_data import import_letter
from .formats import FORMATS, ForeignSIDs, read_sids, to_sid_table, write_sids
from .importer import MANIFEST, check_import, export_sids, import_sids, read_manifest
from .sidtext import SIDTextError, format_sid, parse_sid

__all__ = ["SIDTextError", "parse_sid", "format_sid",
           "FORMATS", "ForeignSIDs", "read_sids", "to_sid_table", "write_sids",
           "MANIFEST", "check_import", "export_sids", "import_sids", "read_manifest",
           "AuditReport", "Generations", "audit_generations", "read_generations", "write_generations",
           "import_letter"]
