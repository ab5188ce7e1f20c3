"""The engine floor never loads Qt or the app: checked in a fresh interpreter and by import-linter."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("PySide6", "shiboken6", "pyqtgraph", "app")


def test_engine_import_loads_no_qt_and_no_app():
    code = (
        "import json, sys\n"
        "import genrec_engine, genrec_engine.cli, genrec_engine.project\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(json.dumps(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [], f"importing the engine loaded {loaded}"


def test_import_linter_contracts_are_kept():
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = str(exe) if exe.is_file() else shutil.which("lint-imports")
    if cmd is None:
        pytest.skip("import-linter (lint-imports) is not installed")
    proc = subprocess.run([cmd], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" in proc.stdout and "0 broken" in proc.stdout


def test_engine_import_leaves_the_slow_optional_libraries_for_later():
    """scikit-learn and SciPy's optimiser take ~1.2 s to import: the app's start-up must not pay
    for them (the structured encoder and last-level balancing import them when they run)."""
    code = (
        "import json, sys\n"
        "import genrec_engine, genrec_engine.cli, genrec_engine.project\n"
        "print(json.dumps(sorted(m for m in ('sklearn', 'scipy.optimize', 'scipy.stats') if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
