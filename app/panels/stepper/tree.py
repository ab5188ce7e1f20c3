"""The beam tree: one column per SID level, a node per kept beam (and the best pruned ones, greyed).

It draws the columns :func:`~.state.tree_columns` computes, at the rows :func:`~.state.tree_rows`
gives (every node beside its children, no crossing edges); rebuilt per step (at most a few
hundred scene items). A node reads ``token  log-prob  category``: what the prefix stands for
(``describe(prefix)``, a :class:`~.state.PrefixMeaning`: item count, dominant category and brand,
the most popular title in its tooltip); a prefix no item has (unconstrained decoding left the trie)
is outlined red and dashed. Clicking a node selects its prefix (highlighted here, and sent to the
other panels by the view).
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView

from typing import Callable

from ...widgets import ERROR_COLOUR, elide, sid_text
from .models import FORCED_COLOUR, GREY, TARGET_COLOUR
from .state import PrefixMeaning, TreeNode, level_name, tree_rows

__all__ = ["BeamTreeView"]

KEPT_FILL = QColor("#e4eefb")
PRUNED_FILL = QColor("#f1f1f1")
EDGE = QColor("#5b7fae")
SELECTED = QColor("#e08a00")
OFF_TRIE = QColor(ERROR_COLOUR)


class BeamTreeView(QGraphicsView):
    """The decode as a tree, edges to each node's parent. Public: :meth:`show_columns`, :meth:`nodes`."""

    sig_prefix_clicked = Signal(object)
    """``(tuple[int, ...])``: the user clicked the node of this SID prefix."""

    COL_W, NODE_W, ROW_H, NODE_H, TOP = 164, 150, 22, 18, 26

    def __init__(self, parent=None):
        super().__init__(parent)
        self._describe: Callable[[tuple[int, ...]], PrefixMeaning] | None = None
        self._selected: tuple[int, ...] | None = None
        self._last: tuple[list[list[TreeNode]], int] = ([], 0)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setBackgroundBrush(QBrush(QColor("white")))
        self._nodes: list[TreeNode] = []
        self._prefix_of: dict[int, tuple[int, ...]] = {}  # id(rect item) -> prefix
        self._rows: dict[tuple[int, ...], float] = {}

    def nodes(self) -> list[TreeNode]:
        """What is drawn, column by column (for tests and exports)."""
        return list(self._nodes)

    def set_describer(self, describe: Callable[[tuple[int, ...]], PrefixMeaning] | None) -> None:
        """What a prefix stands for (None: bare tokens); the view sets it per project."""
        self._describe = describe

    def meaning(self, prefix: tuple[int, ...]) -> PrefixMeaning | None:
        """What ``prefix`` stands for (None without a describer or for the start)."""
        return self._describe(tuple(prefix)) if (self._describe is not None and prefix) else None

    def selected_prefix(self) -> tuple[int, ...] | None:
        return self._selected

    def node_rows(self) -> dict[tuple[int, ...], float]:
        """Each drawn node's row (for tests)."""
        return dict(self._rows)

    def show_columns(self, columns: list[list[TreeNode]], depth: int) -> None:
        """Draw ``columns`` (column ``c`` holds level ``c``'s nodes) under headers for ``depth`` levels."""
        self._last = (columns, depth)
        if self._selected is not None and not any(n.prefix == self._selected for c in columns for n in c):
            self._selected = None
        scene = self.scene()
        scene.clear()
        self._prefix_of.clear()
        self._nodes = []
        for lvl in range(depth + 1):
            t = scene.addSimpleText("start" if lvl == 0 else level_name(lvl - 1, depth))
            t.setBrush(QBrush(QColor("#505050")))
            t.setPos(lvl * self.COL_W, 2)
        pos: dict[tuple[int, ...], QPointF] = {}
        self._rows = tree_rows(columns)
        for c, column in enumerate(columns):
            for node in column:
                x, y = c * self.COL_W, self.TOP + self._rows[node.prefix] * self.ROW_H
                parent = pos.get(node.prefix[:-1]) if c else None
                if parent is not None:
                    pen = QPen(GREY if node.kind == "pruned" else EDGE, 1.0)
                    if node.kind == "pruned":
                        pen.setStyle(Qt.PenStyle.DashLine)
                    scene.addLine(parent.x(), parent.y(), x, y + self.NODE_H / 2, pen)
                self._draw_node(node, x, y)
                if node.kind != "pruned":
                    pos[node.prefix] = QPointF(x + self.NODE_W, y + self.NODE_H / 2)
            self._nodes.extend(column)
        scene.setSceneRect(scene.itemsBoundingRect().adjusted(-4, -4, 8, 8))

    def _draw_node(self, node: TreeNode, x: float, y: float) -> None:
        meaning = self._describe(node.prefix) if (self._describe is not None and node.prefix) else None
        off_trie = meaning is not None and meaning.count == 0
        rect = QGraphicsRectItem(QRectF(x, y, self.NODE_W, self.NODE_H))
        rect.setBrush(QBrush(PRUNED_FILL if node.kind == "pruned" else KEPT_FILL))
        colour = FORCED_COLOUR if node.forced else (TARGET_COLOUR if node.on_target else (
            OFF_TRIE if off_trie else (GREY if node.kind == "pruned" else EDGE)))
        pen = QPen(colour, 2.0 if (node.forced or node.on_target or off_trie) else 1.0)
        if off_trie:
            pen.setStyle(Qt.PenStyle.DashLine)
        if node.prefix == self._selected and node.prefix:
            pen = QPen(SELECTED, 3.0)
        rect.setPen(pen)
        tip = f"prefix {sid_text(node.prefix, 'start')}\ncumulative log-prob {node.score:.3f}"
        tip += {"pruned": "\npruned: allowed, but outside the beam", "root": ""}.get(node.kind, "")
        if node.forced:
            tip += "\nkept because you forced it"
        if node.on_target and node.prefix:
            tip += "\non the path of the user's true next item"
        if meaning is not None:
            tip += "\n\n" + meaning.tooltip()
        tip += "\n\nclick: select this prefix in the SID tree and the map" if node.prefix else ""
        rect.setToolTip(tip)
        self.scene().addItem(rect)
        label = node.label if meaning is None else f"{node.label}  {elide(meaning.label(), 12)}"
        text = QGraphicsSimpleTextItem(label, rect)
        text.setBrush(QBrush(GREY if node.kind == "pruned" else QColor("#202020")))
        br = text.boundingRect()
        text.setPos(x + 5, y + (self.NODE_H - br.height()) / 2)
        self._prefix_of[id(rect)] = node.prefix

    def mousePressEvent(self, event) -> None:
        item = self.itemAt(event.position().toPoint())
        while item is not None and id(item) not in self._prefix_of:
            item = item.parentItem()
        if item is not None:
            prefix = self._prefix_of[id(item)]
            if prefix:
                self._selected = prefix
                self.show_columns(*self._last)  # redraw with the highlight
            self.sig_prefix_clicked.emit(prefix)
        super().mousePressEvent(event)
