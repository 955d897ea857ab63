"""`assert_readable(fig)`: a drawn figure's texts fit in it and do not cover one another.

What a reader notices first in a broken plot — a legend wider than the figure, a title cut at the
edge, a legend over the y label, tick labels printed on top of each other — is all visible in the
window extents matplotlib computes when it draws, so a test can check it without looking.
"""

from __future__ import annotations

import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.transforms import Bbox

TOLERANCE_PX = 1.0  # anti-aliasing and rounding: touching is not overlapping


def _shown(t) -> bool:
    return t.get_visible() and bool(t.get_text().strip())


def _in_view(label, axis) -> bool:
    """A tick label is drawn only when its tick lies in the view interval."""
    loc = label.get_position()[0 if axis.axis_name == "x" else 1]
    lo, hi = sorted(axis.get_view_interval())
    eps = 1e-9 * max(1.0, abs(hi - lo))
    return lo - eps <= loc <= hi + eps


def _axes_texts(ax) -> dict[str, list]:
    titles = [t for t in (ax.title, ax._left_title, ax._right_title) if _shown(t)]
    labels = [t for t in (ax.xaxis.label, ax.yaxis.label) if _shown(t)]
    ticks = [t for axis in (ax.xaxis, ax.yaxis) for t in axis.get_ticklabels() if _shown(t) and _in_view(t, axis)]
    return {"title": titles, "axis label": labels, "tick label": ticks,
            "text": [t for t in ax.texts if _shown(t)]}


def _inside(inner: Bbox, outer: Bbox) -> bool:
    return (inner.x0 >= outer.x0 - TOLERANCE_PX and inner.y0 >= outer.y0 - TOLERANCE_PX
            and inner.x1 <= outer.x1 + TOLERANCE_PX and inner.y1 <= outer.y1 + TOLERANCE_PX)


def _boxes_overlap(a: Bbox, b: Bbox) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > TOLERANCE_PX
            and min(a.y1, b.y1) - max(a.y0, b.y0) > TOLERANCE_PX)


def _texts_overlap(a, b, ea: Bbox, eb: Bbox, renderer) -> bool:
    """Do two drawn texts (window extents ``ea``, ``eb``) overlap?

    The window extent of a text rotated by 45° is the axis-aligned box around it, and such boxes of
    neighbouring tick labels overlap although the labels do not: texts of the same angle are
    compared as rotated rectangles.
    """
    if not _boxes_overlap(ea, eb):  # a rotated text lies inside its box
        return False
    angle = a.get_rotation()
    if angle % 90 == 0 or b.get_rotation() != angle:
        return True
    (wa, ha), (wb, hb) = (_unrotated_size(t, renderer) for t in (a, b))
    th = math.radians(angle)
    u, n = (math.cos(th), math.sin(th)), (-math.sin(th), math.cos(th))
    dx, dy = ea.x0 + ea.width / 2 - eb.x0 - eb.width / 2, ea.y0 + ea.height / 2 - eb.y0 - eb.height / 2
    along, across = abs(dx * u[0] + dy * u[1]), abs(dx * n[0] + dy * n[1])
    return along < (wa + wb) / 2 - TOLERANCE_PX and across < (ha + hb) / 2 - TOLERANCE_PX


def _unrotated_size(t, renderer) -> tuple[float, float]:
    angle = t.get_rotation()
    t.set_rotation(0)
    e = t.get_window_extent(renderer)
    t.set_rotation(angle)
    return e.width, e.height


def _name(kind: str, t) -> str:
    return f"{kind} {t.get_text()!r}"


def problems(fig, min_axes_inches: float = 1.0) -> list[str]:
    """Everything unreadable in ``fig`` (drawn on an Agg canvas), one sentence each."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    frame = fig.bbox
    out = []
    texts = []  # (description, artist)
    if fig._suptitle is not None and _shown(fig._suptitle):
        texts.append(("figure title", fig._suptitle))
    for ax in fig.axes:
        for kind, ts in _axes_texts(ax).items():
            texts += [(kind, t) for t in ts]
        box = ax.get_window_extent(renderer)
        if min(box.width, box.height) < min_axes_inches * fig.dpi:
            out.append(f"axes {ax.get_title()!r} is squeezed to {box.width / fig.dpi:.2f} × "
                       f"{box.height / fig.dpi:.2f} in")
    legends = [leg for leg in [*(ax.get_legend() for ax in fig.axes), *fig.legends] if leg is not None]
    for kind, t in texts:
        if kind != "text" and not _inside(t.get_window_extent(renderer), frame):
            out.append(f"{_name(kind, t)} is cut by the figure's edge")
    for i, leg in enumerate(legends):
        box = leg.get_window_extent(renderer)
        if not _inside(box, frame):
            out.append(f"legend {i} ({box.width:.0f} × {box.height:.0f} px) does not fit in the figure "
                       f"({frame.width:.0f} × {frame.height:.0f} px)")
        for kind, t in texts:
            if kind in ("title", "figure title", "axis label", "tick label") \
                    and _boxes_overlap(box, t.get_window_extent(renderer)):
                out.append(f"legend {i} covers the {_name(kind, t)}")
        for j, other in enumerate(legends[i + 1:], start=i + 1):
            if _boxes_overlap(box, other.get_window_extent(renderer)):
                out.append(f"legends {i} and {j} overlap")
    boxes = [t.get_window_extent(renderer) for _, t in texts]
    for i, (ka, a) in enumerate(texts):
        for j in range(i + 1, len(texts)):
            kb, b = texts[j]
            if _texts_overlap(a, b, boxes[i], boxes[j], renderer):
                out.append(f"{_name(ka, a)} overlaps {_name(kb, b)}")
    return out


def assert_readable(fig, min_axes_inches: float = 1.0) -> None:
    """Fail with the list of problems when any text of ``fig`` is cut, covered or squeezed."""
    found = problems(fig, min_axes_inches)
    assert not found, "unreadable figure:\n  " + "\n  ".join(found)
