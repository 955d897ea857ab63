"""`distill detect traffic` on hostile and awkward input: file names, folders, records (issue 14 items 2, 3, 9)."""

import json

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

from distill.detect.traffic import TrafficConfig, run  # noqa: E402


def _rec(i, account=None, **kw):
    r = {"ts": f"2026-02-01T10:{i % 60:02d}:00Z", "request_id": f"r{i}", "account_id": account or f"a{i % 7}",
         "ip": f"10.1.{i % 5}.3", "model": "m", "prompt": f"hello {i}", "prompt_tokens": 3, "completion_tokens": 9}
    return json.dumps(r | kw, ensure_ascii=False)


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_file_name_is_data_not_sql(tmp_path):
    logs = tmp_path / "logs"
    evil = logs / "a\"]); COPY (SELECT 1) TO 'pwned.csv'; --.jsonl"
    _write(evil, [_rec(i) for i in range(20)])
    pq = logs / "b'); COPY (SELECT 42) TO 'pwned2.csv'; --.parquet"
    import pyarrow as pa
    import pyarrow.parquet as papq

    papq.write_table(pa.table({k: [json.loads(_rec(i, account="p"))[k] for i in range(5)]
                               for k in json.loads(_rec(0))}), pq)
    res = run(TrafficConfig(logs=(str(logs),), out=str(tmp_path / "o'brien"), memory_limit="512MB"))
    assert res["records"] == 25
    assert not list(tmp_path.rglob("pwned*")) and not list(tmp_path.parent.glob("pwned*"))
    assert sorted(res["records_per_file"].values()) == [5, 20]


def test_same_named_files_in_two_folders_are_both_read_once(tmp_path):
    _write(tmp_path / "day1" / "logs.jsonl", [_rec(i, account=f"d1-{i % 7}") for i in range(70)])
    _write(tmp_path / "day2" / "logs.jsonl", [_rec(i, account=f"d2-{i % 4}") for i in range(10)])
    res = run(TrafficConfig(logs=(str(tmp_path / "day1"), str(tmp_path / "day2")), out=str(tmp_path / "o")))
    assert res["records"] == 80 and res["accounts"] == 11
    assert {k.split("/")[-2]: v for k, v in res["records_per_file"].items()} == {"day1": 70, "day2": 10}


def test_hostile_records_are_counted_with_file_and_line_and_skipped(tmp_path):
    lines = [_rec(i) for i in range(10)]
    lines[0] = "\ufeff" + lines[0]  # a byte-order mark on the first line is read past (and said)
    lines.insert(2, "[" * 100_000 + "]" * 100_000)  # nested too deep for the JSON parser
    lines.insert(4, _rec(100, ts="0001-01-01T00:00:00Z"))
    lines.insert(5, _rec(101, ts="9999-12-31T23:59:59Z"))
    lines.insert(6, '{"ts": "2026-02-01T10:00:00Z", "request_id": "s", "account_id": "x\\ud800", "ip": "1.2.3.4", '
                    '"model": "m", "prompt": "p", "prompt_tokens": 1, "completion_tokens": 1}')
    lines.insert(7, _rec(102, prompt_tokens=-5))
    lines.append(_rec(3))  # request_id r3 a second time: kept, reported
    f = tmp_path / "logs" / "l.jsonl"
    _write(f, lines)
    (tmp_path / "logs" / "folder.jsonl").mkdir()  # a folder with a log-like name: not a file, not read
    (tmp_path / "logs" / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    res = run(TrafficConfig(logs=(str(tmp_path / "logs"),), out=str(tmp_path / "o")))
    sk = res["skipped"]
    assert res["records"] == 11
    assert sk["by_reason"] == {"JSON nested too deeply": 1, "ts out of range": 2, "unreadable Parquet file": 1,
                               "invalid text (lone surrogate or unencodable value)": 1, "negative token count": 1}
    assert sk["examples"]["JSON nested too deeply"][0]["line"] == 3
    assert [x["line"] for x in sk["examples"]["ts out of range"]] == [5, 6]
    assert sk["examples"]["invalid text (lone surrogate or unencodable value)"][0]["line"] == 7
    assert sk["examples"]["unreadable Parquet file"][0]["file"].endswith("broken.parquet")
    assert "byte-order mark on the first line (read past it)" in sk["notes"]
    assert any("repeat a request_id" in k for k in sk["notes"])
    assert (tmp_path / "o" / "report.html").exists() and (tmp_path / "o" / "results.json").exists()


def test_only_unreadable_input_is_a_clear_error(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="no readable log records.*unreadable Parquet file"):
        run(TrafficConfig(logs=(str(tmp_path / "x.parquet"),), out=str(tmp_path / "o")))
