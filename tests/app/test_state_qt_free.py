"""Every panel's view-model (``app/panels/<name>/state.py``) and the shared plain objects import
without Qt: they are the panels' rules, tested without widgets."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import app

PANELS = sorted(p.parent.name for p in Path(app.__file__).parent.glob("panels/*/state.py"))
MODULES = [f"app.panels.{p}.state" for p in PANELS] + ["app.model", "app.widgets.text"]
# one fresh interpreter imports them in turn and names, for each, the Qt modules that appeared with it
CHECK = """
import importlib, json, sys
def qt():
    return {m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')}
out = {}
for module in sys.argv[1:]:
    before = qt()
    importlib.import_module(module)
    out[module] = sorted(qt() - before)[:5]
print(json.dumps(out))
"""


def test_every_panel_has_a_view_model():
    assert set(PANELS) >= {"coldstart", "diagnostics", "map", "overview", "playground", "stepper", "training",
                           "tree", "weights"}


def test_view_models_import_without_qt():
    root = Path(app.__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", CHECK, *MODULES], capture_output=True, text=True, cwd=root,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(loaded) == set(MODULES)
    assert {m: q for m, q in loaded.items() if q} == {}, "these modules loaded Qt"
