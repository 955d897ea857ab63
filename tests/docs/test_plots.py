"""eval.png and curve.png stay readable: legends below the axes, nothing cut or covered."""

from distill.docs import curve, evaluate
from tests.plots import assert_readable


def test_eval_plot_is_readable_with_teacher_and_student():
    res = {"results": {
        "student": {"judge_score": 0.95, "token_f1": 0.61, "refusal_rate_unanswerable": 0.97,
                    "false_refusal_rate": 0.04, "latency_s": 0.41},
        "teacher": {"judge_score": 0.99, "token_f1": 0.72, "refusal_rate_unanswerable": 1.0,
                    "false_refusal_rate": 0.01, "latency_s": 2.8}}}
    fig = evaluate.figure(res)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["student", "teacher"]
    assert_readable(fig)
    assert_readable(evaluate.figure({"results": {"student": res["results"]["student"]}}))


def test_curve_plot_is_readable():
    points = [{"examples": n, "token_f1": f, "judge_score": j, "refusal_rate_unanswerable": r}
              for n, f, j, r in [(60, .2, .3, .98), (250, .4, .6, 1.0), (1000, .6, .9, 1.0), (4213, .65, .97, .99)]]
    fig = curve.figure(points)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "token F1", "judge score", "refuses unanswerable"]
    assert_readable(fig)
