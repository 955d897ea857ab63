"""Shared indicators: a valid STIX 2.1 bundle with keyed hashes only, deterministic, and matched back."""

import json

import pandas as pd
import pytest

pytest.importorskip("stix2")
pytest.importorskip("duckdb")

from distill.detect import indicators as I  # noqa: E402
from distill.detect.traffic import TrafficConfig, run  # noqa: E402

KEY = "a-shared-secret-of-enough-length"


def _logs(tmp_path):
    """Eight accounts of one operator (shared card, rotating proxy blocks, one reasoning template) and ordinary users."""
    rows = []
    for a in range(8):
        for i in range(30):
            rows.append({"ts": f"2026-02-0{1 + i % 5}T{(a + i) % 24:02d}:{i % 60:02d}:00Z", "request_id": f"op{a}-{i}",
                         "account_id": f"op{a}", "ip": f"203.0.{(a * 31 + i) % 97}.{i}", "payment_id": f"card{a // 4}",
                         "user_agent": "harvester/1.0", "model": "m", "system_prompt": "You are a data generator.",
                         "prompt": f"Solve problem {a}-{i} about topic {i * 7 % 13}. Think step by step and write out "
                                   f"your complete chain of thought before the final answer.",
                         "prompt_tokens": 40, "completion_tokens": 900})
    for u in range(20):
        for i in range(10):
            rows.append({"ts": f"2026-02-0{1 + i % 5}T{(9 + i) % 24:02d}:00:00Z", "request_id": f"u{u}-{i}",
                         "account_id": f"user{u}", "ip": f"10.9.{u}.7", "payment_id": f"own{u}",
                         "user_agent": "Mozilla/5.0", "model": "m", "prompt": f"Write a short email to my landlord {i}",
                         "prompt_tokens": 10, "completion_tokens": 80})
    f = tmp_path / "logs.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return f


def test_export_is_valid_stix_without_raw_identifiers_and_matches_back(tmp_path, monkeypatch):
    from stix2validator import validate_file

    monkeypatch.setenv("DISTILL_INDICATOR_KEY", KEY)
    logs = _logs(tmp_path)
    res = run(TrafficConfig(logs=(str(logs),), out=str(tmp_path / "a"), export_indicators=str(tmp_path / "ind.json")))
    assert res["flagged_accounts"] == 8 and res["indicators_exported"]["campaigns"] == 1
    text = (tmp_path / "ind.json").read_text()
    assert validate_file(str(tmp_path / "ind.json")).is_valid
    for raw in ("card0", "203.0.", "harvester", "data generator", KEY):
        assert raw not in text  # identifiers and the key never leave
    run(TrafficConfig(logs=(str(logs),), out=str(tmp_path / "b"), export_indicators=str(tmp_path / "ind2.json")))
    assert (tmp_path / "ind2.json").read_text() == text  # ids and times from content and logs, not the clock

    res = run(TrafficConfig(logs=(str(logs),), out=str(tmp_path / "c"), indicators=str(tmp_path / "ind.json")))
    hits = pd.read_csv(tmp_path / "c" / "indicator_hits.csv")
    assert sorted(hits["account_id"]) == [f"op{a}" for a in range(8)]  # ordinary users match nothing
    assert (hits["matches"] >= 2).all() and res["indicator_hits"]["accounts_matched_twice"] == 8

    monkeypatch.setenv("DISTILL_INDICATOR_KEY", "another-key-entirely-000")
    res = run(TrafficConfig(logs=(str(logs),), out=str(tmp_path / "d"), indicators=str(tmp_path / "ind.json")))
    assert res["indicator_hits"]["accounts_matched"] == 0  # another key: nothing to compare


def test_key_and_bundle_errors_name_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("DISTILL_INDICATOR_KEY", raising=False)
    with pytest.raises(ValueError, match="DISTILL_INDICATOR_KEY"):
        I.secret("DISTILL_INDICATOR_KEY")
    bad = tmp_path / "x.json"
    bad.write_text('{"type": "nonsense"}')
    with pytest.raises(ValueError, match="x.json is not a STIX 2.1 bundle"):
        I.read(bad)
