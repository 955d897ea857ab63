"""tests/plots.py finds what it promises to find, and nothing in a plain figure."""

from matplotlib.figure import Figure

from tests.plots import problems


def _axes(**kw):
    fig = Figure(figsize=(4, 3), dpi=100, **kw)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set(xlabel="x", ylabel="y", title="plain")
    return fig, ax


def test_a_plain_figure_has_no_problems():
    fig, ax = _axes(layout="constrained")
    ax.legend()
    assert problems(fig) == []


def test_a_legend_wider_than_the_figure_and_over_the_y_label():
    fig, ax = _axes()
    ax.plot([0, 1], [1, 0], label="teacher (cnn (loaded from /a/very/long/path/to/the/packaged/teacher/folder))")
    ax.legend(loc="center")
    found = problems(fig)
    assert any(p.startswith("legend 0 (") and "does not fit in the figure (400 × 300 px)" in p for p in found)
    assert "legend 0 covers the axis label 'y'" in found


def test_a_cut_title_overlapping_texts_and_a_squeezed_axes():
    fig, ax = _axes()
    ax.set_title("a title far too long for a figure four inches wide, so it runs past both edges")
    ax.text(0.5, 0.5, "here"), ax.text(0.5, 0.5, "there")
    found = problems(fig, min_axes_inches=3.0)
    assert "title 'a title far too long for a figure four inches wide, so it runs past both edges' is cut by " \
           "the figure's edge" in found
    assert "text 'here' overlaps text 'there'" in found
    assert any(p.startswith("axes ") and "is squeezed to" in p for p in found)


def test_rotated_tick_labels_side_by_side_do_not_count_as_overlapping():
    fig = Figure(figsize=(6, 3), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.set_xticks(range(8), [f"identity_{i}" for i in range(8)], rotation=45, ha="right")
    assert problems(fig) == []
    ax.set_xticks(range(8), [f"a much longer identity name {i}" for i in range(8)], rotation=0)
    assert any("overlaps tick label" in p for p in problems(fig))
