"""eval.png and curve.png stay readable: legends below the axes, nothing cut or covered."""

from distill.docs import curve, evaluate
from tests.plots import assert_readable


def _system(f1, refuse, false_refuse, judge, latency):
    def iv(v, w=0.08):
        return {"value": v, "low": max(0.0, v - w), "high": min(1.0, v + w)}

    return {"token_f1": f1, "latency_s": latency, "intervals": {
        "token_f1": iv(f1), "refusal_rate_unanswerable": iv(refuse), "false_refusal_rate": iv(false_refuse),
        "judge_correct": iv(judge)}}


def test_eval_plot_is_readable_with_all_five_systems():
    res = {"items": 180, "results": {
        "untrained": _system(0.23, 0.0, 0.0, 0.08, 3.1), "untrained_rag": _system(0.41, 0.2, 0.05, 0.3, 9.0),
        "student": _system(0.35, 0.9, 0.08, 0.2, 3.0), "student_rag": _system(0.55, 0.95, 0.04, 0.5, 9.2),
        "teacher": _system(0.72, 1.0, 0.01, 0.9, 12.0)}}
    fig = evaluate.figure(res)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "untrained, closed book", "untrained + retrieval", "trained, closed book", "trained + retrieval",
        "teacher + source chunk"]
    assert_readable(fig)
    assert_readable(evaluate.figure({"results": {"student": res["results"]["student"]}}))


def test_curve_plot_is_readable():
    points = [{"examples": n, "token_f1": f, "judge_score": j, "refusal_rate_unanswerable": r}
              for n, f, j, r in [(60, .2, .3, .98), (250, .4, .6, 1.0), (1000, .6, .9, 1.0), (4213, .65, .97, .99)]]
    fig = curve.figure(points)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "token F1", "judge score", "refuses unanswerable"]
    assert_readable(fig)
