"""Plots and scenes as pictures: PNG (pyqtgraph's ImageExporter for its views, a grab for other
widgets), SVG (the view painted into Qt's QSvgGenerator, so lines and text stay vectors) or the
clipboard. Files are written atomically; failures raise :class:`~.files.ExportError`."""
from __future__ import annotations

import os
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPoint, QRect, QSize
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtWidgets import QGraphicsView, QWidget

from .files import ExportError, write_atomic

try:  # PySide6-Essentials ships QtSvg; a trimmed build might not: SVG export is then switched off
    from PySide6.QtSvg import QSvgGenerator
except ImportError:  # pragma: no cover - depends on the Qt build
    QSvgGenerator = None

__all__ = ["SVG_SUPPORTED", "render_image", "export_image", "copy_image"]

#: Whether SVG export is available (PySide6.QtSvg importable).
SVG_SUPPORTED = QSvgGenerator is not None


# ------------------------------------------------------------------------------- images


def render_image(widget: QWidget) -> QImage:
    """``widget`` as a bitmap at the screen's pixel ratio: a pyqtgraph view through pyqtgraph's
    ImageExporter (the whole scene as shown), another graphics view its viewport, any other
    widget itself with its children."""
    if isinstance(widget, pg.GraphicsView):
        from pyqtgraph.exporters import ImageExporter

        exporter = ImageExporter(widget.scene())
        width = max(1, round(widget.viewport().width() * widget.devicePixelRatioF()))
        exporter.parameters()["width"] = width  # the height follows the aspect ratio
        image = exporter.export(toBytes=True)
        if image is None or image.isNull():
            raise RuntimeError("the plot could not be drawn")
        return image
    target = widget.viewport() if isinstance(widget, QGraphicsView) else widget
    return target.grab().toImage()


def export_image(widget: QWidget, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write ``widget`` to ``path`` as PNG or SVG (``fmt``, default: the file's suffix), atomically.

    SVG: the view (a graphics view: its visible part) painted into Qt's QSvgGenerator, so lines
    and text stay vectors. Raises :class:`~.files.ExportError` (unwritable path,
    no QtSvg for SVG, unknown format)."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "png").lower()
    if fmt == "png":
        try:
            image = render_image(widget)
        except Exception as exc:  # noqa: BLE001 - shown to the user with the file name
            raise ExportError(path, str(exc)) from exc
        write_atomic(path, _png_bytes(image, path))
    elif fmt == "svg":
        if not SVG_SUPPORTED:
            raise ExportError(path, "SVG export needs PySide6's QtSvg module, which this installation lacks")
        write_atomic(path, _svg_bytes(widget, path))
    else:
        raise ExportError(path, f"unknown image format {fmt!r} (use .png or .svg)")
    return path


def copy_image(widget: QWidget) -> QImage:
    """Put ``widget`` (see :func:`render_image`) on the clipboard as an image; returns it."""
    image = render_image(widget)
    QGuiApplication.clipboard().setImage(image)
    return image


def _png_bytes(image: QImage, path: Path) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = image.save(buffer, "PNG")
    buffer.close()
    if not ok:
        raise ExportError(path, "the image could not be encoded as PNG")
    return bytes(data.data())


def _svg_bytes(widget: QWidget, path: Path) -> bytes:
    # pyqtgraph's SVGExporter is not used: it rewrites Qt's SVG output and, with Qt 6.11's new path
    # syntax, fails or misplaces items; painting the view into Qt's generator gives a faithful copy
    try:
        return _qt_svg(widget, path)
    except Exception as exc:  # noqa: BLE001 - shown to the user with the file name
        raise ExportError(path, f"the SVG could not be drawn ({exc})") from exc


def _qt_svg(widget: QWidget, path: Path) -> bytes:
    """Paint ``widget`` (a graphics view: its visible part) into a QSvgGenerator; vectors and text
    stay vectors and text."""
    target = widget.viewport() if isinstance(widget, QGraphicsView) else widget
    size = target.size()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(size)
    generator.setViewBox(QRect(QPoint(0, 0), size))
    generator.setResolution(target.logicalDpiX())  # default 72 dpi: pyqtgraph then misplaces curves
    generator.setTitle(path.stem)
    generator.setDescription("Exported from GenRec Explorer")
    painter = QPainter(generator)
    try:
        if isinstance(widget, QGraphicsView):
            widget.render(painter, source=QRect(QPoint(0, 0), QSize(size)))
        else:
            widget.render(painter)
    finally:
        painter.end()
    buffer.close()
    if data.isEmpty():
        raise RuntimeError("nothing was drawn")
    return bytes(data.data())
