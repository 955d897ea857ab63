"""The reliability diagram stays readable with a long data set name and all three models."""

from distill.tabular.report import reliability_figure, reliability_plot
from tests.plots import assert_readable


def tabular_result(dataset: str) -> dict:
    bins = [{"mean_p": (i + 0.5) / 10, "rate": min(1.0, (i + 0.5) / 10 + 0.03 * (-1) ** i)} for i in range(10)]
    models = {k: {"reliability": bins, "ece": 0.0123} for k in ("teacher", "student", "student_hard_labels")}
    return {"dataset": dataset, "models": models}


def test_reliability_diagram_is_readable():
    fig = reliability_figure(tabular_result("default_of_credit_card_clients_taiwan_2005_uci_with_extra_columns"))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "perfectly calibrated", "teacher (ECE 0.012)", "distilled student (ECE 0.012)",
        "student, hard labels only (ECE 0.012)"]
    assert_readable(fig)


def test_reliability_plot_writes_a_png(tmp_path):
    reliability_plot(tabular_result("adult"), tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
