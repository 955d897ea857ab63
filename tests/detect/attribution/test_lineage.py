import json

import numpy as np
import pytest
from scipy import stats

from distill.detect.attribution.lineage import LineageConfig, holm, permutation_pvalue, run
from tests.detect.attribution import synthetic as S


def test_holm_reference_values():
    # sorted: 0.01·3 = 0.03; 0.03·2 = 0.06; 0.04·1 = 0.04 → monotone: 0.06 (Holm 1979, by hand)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_pvalues_are_uniform_under_a_null_built_here():
    """Candidate and references exchangeable on every prompt (iid similarities): p ~ U(0, 1), by KS, and the
    rejection rate at 0.05 is 0.05 within its binomial spread."""
    rng = np.random.default_rng(0)
    ps = []
    for _ in range(400):
        S_ = rng.normal(size=(15, 4)) + rng.normal(size=(15, 1))  # a prompt effect shared by all columns
        ps.append(permutation_pvalue(S_, 199, rng)[1])
    ps = np.array(ps)
    assert stats.kstest(ps, "uniform").pvalue > 0.01
    assert 0.02 <= (ps <= 0.05).mean() <= 0.09


def test_smallest_p_and_determinism():
    S_ = np.column_stack([np.ones(30), np.zeros((30, 3))])  # the candidate always the most similar
    t, p = permutation_pvalue(S_, 999, np.random.default_rng(1))
    assert t == pytest.approx(1.0) and p == pytest.approx(1 / 1000)
    a = permutation_pvalue(np.random.default_rng(2).normal(size=(20, 3)), 499, np.random.default_rng(5))
    b = permutation_pvalue(np.random.default_rng(2).normal(size=(20, 3)), 499, np.random.default_rng(5))
    assert a == b


def test_detects_a_planted_relation(tmp_path):
    """The suspect writes with its teacher's word choice (mixed with a little of its own); the other
    candidate and the references are unrelated. Only the true teacher is flagged."""
    P = S.preferences(6, 1.0, seed=3)
    names = ["teacher", "other", "ref1", "ref2", "ref3"]
    rows = []
    for g in range(25):
        prompt = f"question about topic{g}"
        for k, n in enumerate(names):
            rows.append({"source": n, "prompt_id": f"g{g}", "answer": S.answer(P[k], prompt, n)})
        rows.append({"source": "suspect", "prompt_id": f"g{g}",
                     "answer": S.answer(0.7 * P[0] + 0.3 * P[5], prompt, "suspect")})
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = run(LineageConfig(answers=(str(path),), suspect="suspect", candidates=("teacher", "other"),
                            references=("ref1", "ref2", "ref3"), permutations=999, out=str(tmp_path / "out")))
    by = {c["candidate"]: c for c in res["candidates"]}
    assert by["teacher"]["p_holm"] < 0.01 and by["teacher"]["flagged"]
    assert by["other"]["p_value"] >= 0.05 and not by["other"]["flagged"]
    assert "cannot" in (tmp_path / "out" / "results.md").read_text()


def test_config_refuses_too_few_references():
    with pytest.raises(ValueError, match="references"):
        LineageConfig(answers=("a.jsonl",), suspect="s", candidates=("c",), references=("r",))
