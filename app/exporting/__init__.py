"""Generic exports for every panel: tables and trees to CSV or the clipboard, plots and scenes to
PNG, SVG or the clipboard.

:func:`install_exports` gives a panel (any widget) these context menus without the panel knowing:

- every ``QTableView`` / ``QTreeView`` (any ``QAbstractItemView`` but a header): *Export CSV…*,
  *Copy table as TSV*, *Copy selected rows as TSV* (TSV pastes into spreadsheets as cells);
- every pyqtgraph ``PlotWidget`` / ``GraphicsLayoutWidget`` and every other ``QGraphicsView``:
  *Export PNG…*, *Export SVG…*, *Copy image*.

How it finds them: item views and plain graphics views ignore a right click they have no menu
for, and Qt then passes the context-menu event up to their parents; one event filter on the root
catches it there and looks at what is under the cursor. So views added to the panel later are
covered with no extra step, and a view with a menu of its own keeps it (a panel can append
:func:`export_actions` to that menu). pyqtgraph opens its own menus on the mouse release, so each
pyqtgraph view gets its actions in the scene's menu section instead (shown under every plot menu),
and a menu of its own where the plot has none (menus switched off); pyqtgraph views added later
are hooked when the root is shown or gets a child, and at the latest on their first right click.
Installing twice is harmless.

The functions behind the menus (:func:`table_data`, :func:`write_csv`, :func:`copy_table`,
:func:`export_image`, :func:`copy_image`) take the view itself and can be called directly
(tests, scripts). Files are written atomically (a temporary file in the same folder, then
``os.replace``) and CSV is UTF-8; failures raise :class:`ExportError` naming the file, which the
menus show in a message box.

The package: :mod:`.tables` (what a table or tree view shows, as CSV/TSV), :mod:`.images` (plots
and scenes as PNG/SVG), :mod:`.files` (atomic writes, :class:`ExportError`) and :mod:`.menus`
(the context menus and the dialogs behind them).
"""
from .files import ExportError
from .images import SVG_SUPPORTED, copy_image, export_image, render_image
from .menus import ExportInstaller, ask_export_image, ask_save_path, export_actions, install_exports, show_export_error
from .tables import MAX_ROWS, TableData, copy_table, delimited_text, table_data, write_csv

__all__ = [
    "SVG_SUPPORTED", "MAX_ROWS", "ExportError", "TableData", "ExportInstaller", "install_exports", "export_actions",
    "table_data", "delimited_text", "write_csv", "copy_table", "render_image", "export_image", "copy_image",
    "ask_export_image", "ask_save_path", "show_export_error",
]
