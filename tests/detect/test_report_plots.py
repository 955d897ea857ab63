"""The plots of report.html stay readable with many models, many clusters and three days of hours."""

import numpy as np
import pandas as pd
import pytest

from distill.detect.evidence import COMMUNITY_WEIGHTS
from distill.detect.report import evidence_figure, score_figure, shift_figure, traffic_figure
from tests.plots import assert_readable

MODELS = ["meta-llama/Llama-3.1-70B-Instruct", "Qwen/Qwen2.5-72B-Instruct", "deepseek-ai/DeepSeek-R1",
          "mistralai/Mistral-Large-Instruct-2411", "google/gemma-3-27b-it", "gpt-4o-mini-2024-07-18",
          "claude-3-5-haiku-20241022", "microsoft/phi-4"]


def shift_table(models: list[str], hours: int = 72) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"h": 480_000 + h, "model": m, "mmd2": rng.gamma(2, 0.01), "threshold": 0.04, "shifted": 0}
            for m in models for h in range(hours)]
    r = pd.DataFrame(rows)
    r.loc[r["mmd2"] > 0.04, "shifted"] = 1
    return r


@pytest.mark.parametrize("models", [MODELS[:1], MODELS])
def test_shift_plot_is_readable(models):
    fig = shift_figure(shift_table(models))
    assert len(fig.axes[0].get_legend().get_texts()) == len(models)
    assert_readable(fig)


def test_score_evidence_and_traffic_plots_are_readable():
    rng = np.random.default_rng(1)
    acc = pd.DataFrame({"score": rng.uniform(0, 1, 5000), "flagged": (rng.uniform(0, 1, 5000) > 0.95).astype(int)})
    assert_readable(score_figure(acc))
    clusters = pd.DataFrame({"cluster": [f"op{i + 1:03d}" for i in range(20)]}
                            | {f"e_{k}": rng.uniform(0, w, 20) for k, w in COMMUNITY_WEIGHTS.items()})
    fig = evidence_figure(clusters)
    assert len(fig.axes[0].get_legend().get_texts()) == len(COMMUNITY_WEIGHTS)
    assert_readable(fig)
    assert_readable(evidence_figure(clusters.head(1)))
    hours = pd.DataFrame({"h": np.arange(480_000, 480_072), "n": rng.integers(500, 900, 72)})
    hours["n_flagged"] = hours["n"] // 5
    assert_readable(traffic_figure(hours))
