"""The beam tree: one column per SID level, a node per kept beam (and the best pruned ones, greyed).

It draws the columns :func:`~.state.tree_columns` computes; rebuilt per step (at most a few
hundred scene items).
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView

from ...widgets import sid_text
from .models import FORCED_COLOUR, GREY, TARGET_COLOUR
from .state import TreeNode, level_name

__all__ = ["BeamTreeView"]

KEPT_FILL = QColor("#e4eefb")
PRUNED_FILL = QColor("#f1f1f1")
EDGE = QColor("#5b7fae")


class BeamTreeView(QGraphicsView):
    """The decode as a tree, edges to each node's parent. Public: :meth:`show_columns`, :meth:`nodes`."""

    sig_prefix_clicked = Signal(object)
    """``(tuple[int, ...])``: the user clicked the node of this SID prefix."""

    COL_W, NODE_W, ROW_H, NODE_H, TOP = 106, 94, 22, 18, 26

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setBackgroundBrush(QBrush(QColor("white")))
        self._nodes: list[TreeNode] = []
        self._prefix_of: dict[int, tuple[int, ...]] = {}  # id(rect item) -> prefix

    def nodes(self) -> list[TreeNode]:
        """What is drawn, column by column (for tests and exports)."""
        return list(self._nodes)

    def show_columns(self, columns: list[list[TreeNode]], depth: int) -> None:
        """Draw ``columns`` (column ``c`` holds level ``c``'s nodes) under headers for ``depth`` levels."""
        scene = self.scene()
        scene.clear()
        self._prefix_of.clear()
        self._nodes = []
        for lvl in range(depth + 1):
            t = scene.addSimpleText("start" if lvl == 0 else level_name(lvl - 1, depth))
            t.setBrush(QBrush(QColor("#505050")))
            t.setPos(lvl * self.COL_W, 2)
        pos: dict[tuple[int, ...], QPointF] = {}
        for c, column in enumerate(columns):
            for r, node in enumerate(column):
                x, y = c * self.COL_W, self.TOP + r * self.ROW_H
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
        rect = QGraphicsRectItem(QRectF(x, y, self.NODE_W, self.NODE_H))
        rect.setBrush(QBrush(PRUNED_FILL if node.kind == "pruned" else KEPT_FILL))
        colour = FORCED_COLOUR if node.forced else (TARGET_COLOUR if node.on_target else
                                                      (GREY if node.kind == "pruned" else EDGE))
        rect.setPen(QPen(colour, 2.0 if (node.forced or node.on_target) else 1.0))
        tip = f"prefix {sid_text(node.prefix, 'start')}\ncumulative log-prob {node.score:.3f}"
        tip += {"pruned": "\npruned: allowed, but outside the beam", "root": ""}.get(node.kind, "")
        if node.forced:
            tip += "\nkept because you forced it"
        if node.on_target and node.prefix:
            tip += "\non the path of the user's true next item"
        rect.setToolTip(tip)
        self.scene().addItem(rect)
        text = QGraphicsSimpleTextItem(node.label, rect)
        text.setBrush(QBrush(GREY if node.kind == "pruned" else QColor("#202020")))
        br = text.boundingRect()
        text.setPos(x + 5, y + (self.NODE_H - br.height()) / 2)
        self._prefix_of[id(rect)] = node.prefix

    def mousePressEvent(self, event) -> None:
        item = self.itemAt(event.position().toPoint())
        while item is not None and id(item) not in self._prefix_of:
            item = item.parentItem()
        if item is not None:
            self.sig_prefix_clicked.emit(self._prefix_of[id(item)])
        super().mousePressEvent(event)
