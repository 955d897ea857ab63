"""What every figure the package writes shares: legends below their axes, titles wrapped to fit.

Constrained layout makes room for a legend placed outside the axes (a legend inside them covered
curves and, once its labels grew, the axis labels) but not for text that overflows: a title is
wrapped here, before layout, because matplotlib's own ``wrap=True`` acts only at draw time.
"""

from __future__ import annotations

import textwrap


def wrap(text: str, width: int) -> str:
    """``text`` on lines of at most ``width`` characters; long names (paths, data set ids) are cut too.

    Args:
        text: the text, e.g. a figure title; its whitespace is collapsed.
        width: the most characters on a line.

    Returns:
        The lines joined by newlines (no trailing newline); "" for blank ``text``.
    """
    return "\n".join(textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False))


def legend_below(ax, columns: int = 1, fontsize: float = 8, gap: float = 0.55) -> None:
    """The axes' legend under its x label, unframed; constrained layout keeps it in the figure.

    Args:
        ax: the matplotlib ``Axes`` whose labelled artists make the legend.
        columns: the number of legend columns.
        fontsize: the legend's font size in points.
        gap: inches from the axes' bottom to the legend's top, room for tick labels and the x label
            (a gap in inches, not in axes heights, is the same for a short axes and a tall one).
    """
    from matplotlib.transforms import ScaledTranslation

    below = ax.transAxes + ScaledTranslation(0, -gap, ax.figure.dpi_scale_trans)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=below, ncols=columns,
              fontsize=fontsize, frameon=False)
