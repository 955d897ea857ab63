import json

import pytest

from distill.files import write_results
from distill.results import Result


class _Ran(Result):
    steps: int
    seconds: float
    out: str

    def summary(self) -> str:
        return f"{self['steps']} steps"


def test_declared_keys_are_required_and_typed():
    r = _Ran(steps=3, seconds=2, out="x")  # an int is a float
    assert r == {"steps": 3, "seconds": 2, "out": "x"} and r.summary() == "3 steps"
    assert json.loads(json.dumps(r)) == dict(r)  # still the plain mapping --json prints
    with pytest.raises(KeyError, match="_Ran needs 'out'"):
        _Ran(steps=3, seconds=2.0)
    with pytest.raises(TypeError, match=r"_Ran\['steps'\] must be int, got str"):
        _Ran(steps="3", seconds=2.0, out="x")
    with pytest.raises(TypeError, match="must be int, got bool"):
        _Ran(steps=True, seconds=2.0, out="x")
    assert set(_Ran.declared()) == {"steps", "seconds", "out"}


def test_a_result_with_a_report_writes_it_as_results_md(tmp_path):
    r = Result({"a": 1}, report="# the report")
    assert r.summary() == "# the report"
    write_results(tmp_path, r)
    assert json.loads((tmp_path / "results.json").read_text()) == {"a": 1}
    assert (tmp_path / "results.md").read_text() == "# the report\n"
    plain = Result({"a": 1})
    assert json.loads(plain.summary()) == {"a": 1}
    write_results(tmp_path / "b", plain) if (tmp_path / "b").mkdir() is None else None
    assert not (tmp_path / "b" / "results.md").exists()
