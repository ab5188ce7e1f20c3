"""Every panel's view-model (``app/panels/<name>/state.py``) and the shared plain objects import
without Qt: they are the panels' rules, tested without widgets."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import app

PANELS = sorted(p.parent.name for p in Path(app.__file__).parent.glob("panels/*/state.py"))
CHECK = (
    "import importlib, sys; importlib.import_module({module!r}); "
    "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')); "
    "print(bad[:5]); sys.exit(1 if bad else 0)"
)


def test_every_panel_has_a_view_model():
    assert set(PANELS) >= {"coldstart", "diagnostics", "map", "overview", "playground", "stepper", "training",
                           "tree", "weights"}


@pytest.mark.parametrize("module", [f"app.panels.{p}.state" for p in PANELS] + ["app.model", "app.widgets.text"])
def test_imports_without_qt(module):
    root = Path(app.__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", CHECK.format(module=module)], capture_output=True, text=True,
                          cwd=root, timeout=300)
    assert proc.returncode == 0, f"{module} loaded Qt: {proc.stdout.strip()} {proc.stderr[-1500:]}"
