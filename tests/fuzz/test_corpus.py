"""The checked-in corpus of hostile inputs from issue 14 (tests/fuzz/corpus), each through its entry point:
a clear error (or a correct answer), never a traceback and never code run."""

import json
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus"

CSV = {
    "numeric_with_stray_cells.csv": r"column 'chol': 2 cell\(s\) like \['\?', 'n/a\?'\] on line\(s\) \[6, 19\]",
    "inf_cell.csv": r"column 'age': 1 cell\(s\) like \['inf'\] on line\(s\) \[4\]",
    "overflowing_number.csv": r"column 'chol': 1 cell\(s\) like \['inf'\] on line\(s\) \[8\]",
    "bad_utf8.csv": r"line 6 is not UTF-8",
    "header_only.csv": r"has a header but no data rows",
    "target_all_missing.csv": r"target column 'event' of target_all_missing.csv has no values at all",
    "wrong_width_row.csv": r"line 5 has 5 fields",
    "unclosed_quote.csv": r"line 10 has \d+ fields|line 10: ",
}


@pytest.mark.parametrize("name", sorted(CSV))
def test_csv_corpus(name):
    pytest.importorskip("sklearn")
    from distill.tabular.datasets import load_csv

    with pytest.raises(ValueError, match=CSV[name]):
        load_csv(CORPUS / "csv" / name, "event")


def test_skops_corpus(tmp_path, monkeypatch):
    pytest.importorskip("skops")
    from distill.tabular.run import load_student

    monkeypatch.chdir(tmp_path)  # the payload writes pwned.txt into the working folder
    with pytest.raises(ValueError, match=r"builtins\.exec"):
        load_student(CORPUS / "evil_exec.skops")
    assert not (tmp_path / "pwned.txt").exists()


@pytest.mark.parametrize("case", [json.loads(x) for x in (CORPUS / "chat_bodies.jsonl").read_text().splitlines()],
                         ids=lambda c: c["body"][:60])
def test_chat_corpus(case):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from distill.serve.app import create_app
    from tests.fuzz.test_chat_requests import ByteEngine

    c = TestClient(create_app(ByteEngine(), "fake", max_body_bytes=64 << 10), raise_server_exceptions=False)
    r = c.post(case["path"], content=case["body"].encode(), headers={"content-type": "application/json"})
    assert r.status_code == case["status"], r.text[:300]
    if r.status_code != 200:
        assert r.json()["error"]["param"] == case["param"]
    elif '"stream": true' in case["body"]:
        assert r.text.rstrip().endswith("data: [DONE]") and '"finish_reason": "' in r.text


@pytest.mark.parametrize("name", ["syntax_error.yaml", "python_tag.yaml", "numeric_key.yaml", "not_a_mapping.yaml",
                                  "bad_utf8.yaml"])
def test_recipe_corpus(name, tmp_path, monkeypatch):
    from distill.config import load_config
    from distill.train.classic import ClassicConfig

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"\.yaml|setting"):
        load_config(ClassicConfig, CORPUS / "recipes" / name)
    assert not (tmp_path / "pwned").exists()
