"""Shared set-up for panel tests."""
from __future__ import annotations

from app.bridge import EngineBridge
from app.panels import ProjectViewModel
from app.selection import Selection


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
