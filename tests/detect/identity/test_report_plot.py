"""The claim-rate heatmap stays readable with long model specs, many identities and six languages."""

import random

import pytest

from distill.detect.identity.claims import AliasTable
from distill.detect.identity.report import figure, summarize
from tests.plots import assert_readable

SPECS = ["hf:HuggingFaceTB/SmolLM2-1.7B-Instruct",
         "http://localhost:8080/v1#/models/google/gemma-3-4b-it-qat-q4_0-gguf/snapshots/main"]


def probe_result(specs: list[str], identities: list[str]) -> dict:
    table = AliasTable.load()
    rng = random.Random(0)
    own = {s: identities[i % len(identities)] for i, s in enumerate(specs)}
    records = [{"teacher": s, "lang": lang, "condition": cond, "answer": "…",
                "claims": rng.sample(identities, rng.choice([0, 1, 1, 2]))}
               for s in specs for lang in ("en", "de", "fr", "es", "zh", "ja")
               for cond in ("no_system", "anchor") for _ in range(10)]
    return summarize(records, table, own, specs)


@pytest.mark.parametrize("specs, identities", [
    (SPECS, list(AliasTable.load().labels)),  # two models, every identity claimed somewhere
    (SPECS[1:], ["gemma", "smollm"]),  # one model, few columns: the long spec must wrap
])
def test_claim_rate_heatmap_is_readable(specs, identities):
    table = AliasTable.load()
    fig = figure(probe_result(specs, identities), table)
    assert len(fig.axes) == len(specs)
    assert_readable(fig)
