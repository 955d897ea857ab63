"""Fuzz: any JSON-lines log given to `distill detect traffic` is staged with every JSON object kept and
every other line counted with its line number — never a traceback, never a lost valid record. Then
the SQL validation keeps exactly the records with valid fields (the scan end to end, a few examples)."""

import json

import pytest

pytest.importorskip("pyarrow")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from distill.detect.schema import BadRows, jsonl_to_parquet  # noqa: E402

text = st.one_of(st.text(max_size=30), st.sampled_from(["", "é", "\u202e", "\x00", "名前", "😀", "a" * 300]))
value = st.one_of(text, st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.none(), st.booleans(),
                  st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def record(draw):
    rec = {"ts": draw(st.one_of(st.just("2026-02-01T10:00:00Z"), st.just("9999-12-31T23:59:59Z"),
                                st.just("0001-01-01T00:00:00Z"), st.just("yesterday"), value)),
           "request_id": draw(st.one_of(text, value)), "account_id": draw(st.one_of(text, value)),
           "ip": draw(st.one_of(st.just("10.1.2.3"), st.just("2001:db8::1"), text)), "model": draw(text),
           "prompt": draw(text), "prompt_tokens": draw(st.one_of(st.integers(-5, 10**6), value)),
           "completion_tokens": draw(st.one_of(st.integers(-5, 10**6), value))}
    for k in draw(st.lists(st.sampled_from(sorted(rec)), max_size=3)):
        rec.pop(k, None)
    return ("obj", json.dumps(rec))


hostile_line = st.one_of(
    st.just(("bad", "{not json")), st.just(("bad", "[1, 2]")), st.just(("bad", "42")), st.just(("bad", '"str"')),
    st.just(("bad", "[" * 5000 + "]" * 5000)), st.just(("bad", '{"prompt": "\\ud800"}')),
    st.just(("blank", "   ")), st.text(max_size=20).filter(lambda t: "\n" not in t and "\r" not in t).map(
        lambda t: ("maybe", t)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.one_of(record(), record(), hostile_line), max_size=25), bom=st.booleans())
def test_staging_keeps_every_object_and_counts_every_other_line(tmp_path_factory, lines, bom):
    d = tmp_path_factory.mktemp("fuzz")
    src = d / "logs.jsonl"
    body = "\n".join(t for _, t in lines) + "\n"
    src.write_text(("\ufeff" if bom else "") + body, encoding="utf-8", errors="surrogatepass")
    bad = BadRows()
    import pyarrow.parquet as pq

    table = pq.read_table(jsonl_to_parquet(src, d / "staged.parquet", bad))
    kept = table.column("_line").to_pylist()
    skipped = sum(bad.counts.values())
    nonblank = [i + 1 for i, (_, t) in enumerate(lines) if t.strip()]
    assert len(kept) + skipped == len(nonblank)  # each non-blank line: kept or counted, once
    objects = [i + 1 for i, (kind, _) in enumerate(lines) if kind == "obj"]
    assert set(objects) <= set(kept)  # no valid JSON object lost
    assert all(ex["line"] in nonblank for exs in bad.examples.values() for ex in exs)


def test_scan_keeps_exactly_the_valid_records(tmp_path):
    from distill.detect.traffic import TrafficConfig, run

    good = [{"ts": f"2026-02-01T10:{i:02d}:00Z", "request_id": f"r{i}", "account_id": f"a{i % 3}", "ip": "10.1.2.3",
             "model": "m", "prompt": "hello", "prompt_tokens": 3, "completion_tokens": 9} for i in range(8)]
    hostile = [dict(good[0], request_id="x1", ts="0001-01-01T00:00:00Z"), dict(good[0], request_id="x2",
                                                                                prompt_tokens=-4),
               dict(good[0], request_id="x3", account_id=""), dict(good[0], request_id="x4", ts=12)]
    lines = [json.dumps(r) for r in good[:4] + hostile + good[4:]] + ["[" * 3000, '{"prompt": "\\udc00"}']
    (tmp_path / "l.jsonl").write_text("\n".join(lines) + "\n")
    res = run(TrafficConfig(logs=(str(tmp_path / "l.jsonl"),), out=str(tmp_path / "o"), shift=False))
    assert res["records"] == 8 and res["accounts"] == 3
    assert res["skipped"]["total"] == 6, res["skipped"]
