"""Shared set-up for panel tests."""
from __future__ import annotations

from app.bridge import EngineBridge
from app.panels import ProjectViewModel
from app.selection import Selection

# How long a test waits for work that may include the session's first UMAP fit. On a new machine
# numba compiles UMAP's kernels from scratch (then caches them); with the cores busy the map's
# layout of a 120-item project took 52 s that way, and a 60-second wait failed. A wait only
# takes this long when something is wrong, so it is generous.
FIRST_FIT_MS = 600_000


def mount_panel(qtbot, panel_cls, snapshot=None, **kwargs):
    """Build ``panel_cls`` over its own view-model, selection and bridge, shown at 1280 x 760.

    With ``snapshot`` the project is opened in it. Returns ``(panel, view_model, selection,
    bridge)``; the three are also kept on the panel so they live as long as it does."""
    vm, selection, bridge = ProjectViewModel(), Selection(), EngineBridge()
    panel = panel_cls(vm, selection, bridge, **kwargs)
    qtbot.addWidget(panel)
    panel.resize(1280, 760)
    panel.show()
    panel._test_refs = (vm, selection, bridge)
    if snapshot is not None:
        selection.set_sid_table(snapshot.project.sids)
        vm.set_snapshot(snapshot)
    return panel, vm, selection, bridge
