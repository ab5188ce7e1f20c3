"""The overview's Qt-free state: the texts it shows of a project equal the engine's numbers. No widgets."""
from __future__ import annotations


import dataclasses


from app.panels.overview.state import FIGURES, LEVEL_COLUMNS, TOKENIZER_ROWS, level_text, overview_of, plain_words


def test_overview_of_the_bundled_project(snapshot):
    shown = overview_of(snapshot)
    diag, project = snapshot.diagnostics, snapshot.project
    assert shown.title == project.name == "beauty-default"
    assert shown.subtitle.startswith(str(snapshot.path))
    assert set(shown.figures) == set(shown.details) == {k for k, _, _ in FIGURES}
    assert set(shown.tokenizer) == {k for k, _ in TOKENIZER_ROWS}
    assert shown.figures["items"] == f"{diag.items:,}" == "12,101"
    assert shown.figures["users"] == "22,363" and shown.figures["interactions"] == "198,502"
    assert shown.figures["collision_rate"] == f"{100 * diag.collision_rate:.1f} %"
    assert shown.details["items"] == f"one {project.sids.depth}-token SID each"
    assert shown.details["users"] == f"{198_502 / 22_363:.1f} interactions per user"
    cfg = project.tokenizer_config
    assert shown.tokenizer["levels"] == str(cfg.levels)
    assert shown.tokenizer["codebook_size"] == f"{cfg.codebook_size:,} codewords per level"
    assert f"({cfg.method})" in shown.tokenizer["method"]
    assert shown.levels == list(diag.levels) and len(shown.levels) == cfg.levels


def test_level_cells(snapshot):
    first = snapshot.diagnostics.levels[0]
    assert [c.header for c in LEVEL_COLUMNS][:2] == ["Level", "Utilization"]
    assert level_text(first, 0) == str(first.level)
    assert level_text(first, 1) == f"{100 * first.utilization:.1f} %"
    assert level_text(first, len(LEVEL_COLUMNS) - 1) == (
        f"{first.items_per_prefix_mean:,.1f} · max {first.items_per_prefix_max:,}")
    assert LEVEL_COLUMNS[5].value(first) == first.prefix_entropy


def test_plain_words_tell_dead_codes_and_collisions(snapshot):
    diag = snapshot.diagnostics
    text = plain_words(diag, 256, 4)
    assert "<p" in text and "bits to guess (of at most 8)" in text
    lone = dataclasses.replace(diag, levels=[dataclasses.replace(diag.levels[0], dead_codes=3)], collision_rate=0.0)
    text = plain_words(lone, 256, 1)
    assert "Unused codewords: 3 of 256 at level 1." in text
    assert "No two items share all 1 codes" in text and "bits to guess" not in text


def test_a_sub_second_fit_time_is_shown_in_milliseconds(snapshot, monkeypatch):
    """A 300-item extract's tokenizer fit showed "0.0 s"."""
    meta = dict(snapshot.project.meta)
    meta["tokenizer"] = {**meta.get("tokenizer", {}), "fit_seconds": 0.046}
    monkeypatch.setattr(snapshot.project, "meta", meta)
    assert overview_of(snapshot).tokenizer["fit_seconds"] == "46 ms"
    meta["tokenizer"]["fit_seconds"] = 3.84
    assert overview_of(snapshot).tokenizer["fit_seconds"] == "3.8 s"


def test_an_imported_table_says_how_content_like_it_is(snapshot, monkeypatch):
    assert overview_of(snapshot).tokenizer["content_agreement"].startswith("fitted to the content")
    meta = dict(snapshot.project.meta)
    meta["imported"] = {"format": "letter", "source": "/x/t.index.json", "content_agreement": [0.918684, 0.66, 0.3606]}
    monkeypatch.setattr(snapshot.project, "meta", meta)
    text = overview_of(snapshot).tokenizer["content_agreement"]
    assert text.startswith("92 % / 66 % / 36 % of items' codes are their nearest content codeword")
    assert "Imported letter table t.index.json" in overview_of(snapshot).tokenizer["method"]
