"""Fuzz: a recipe file (YAML) becomes a config or a ValueError naming the file or the setting — never another
exception. Recipes are checked against every config class a command reads one into."""

import dataclasses

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distill.config import load_config
from distill.lm.capture import CaptureConfig
from distill.serve.server import ServeConfig
from distill.tabular.run import TabularRunConfig
from distill.train.classic import ClassicConfig

CONFIGS = [ClassicConfig, CaptureConfig, ServeConfig, TabularRunConfig]
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=12))
value = st.recursive(scalar, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=6), c,
                                                                                          max_size=3)), max_leaves=6)


@st.composite
def recipes(draw):
    cls = draw(st.sampled_from(CONFIGS))
    names = [f.name for f in dataclasses.fields(cls)]
    keys = st.one_of(st.sampled_from(names), st.sampled_from(names), st.text(max_size=6), st.integers(0, 9))
    data = draw(st.dictionaries(keys, value, max_size=4))
    if draw(st.integers(0, 4)) == 0:
        return cls, draw(st.sampled_from([b"a: [1, 2", b"\xff\xfe:", b"!!python/object/apply:os.system ['x']",
                                          b"- 1\n- 2\n", b"a: b: c", b"[" * 50, b"key: &a [*a]"]))
    return cls, yaml.safe_dump(data, allow_unicode=True).encode()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=recipes())
def test_recipes(tmp_path, case):
    cls, raw = case
    p = tmp_path / "r.yaml"
    p.write_bytes(raw)
    try:
        cfg = load_config(cls, p)
    except ValueError as e:
        assert str(e), e
        return
    assert isinstance(cfg, cls)


def test_a_python_tag_is_refused_not_run(tmp_path):
    p = tmp_path / "r.yaml"
    marker = tmp_path / "ran"
    p.write_text(f"out: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ValueError, match=r"r\.yaml line 1 is not valid YAML"):
        load_config(ClassicConfig, p)
    assert not marker.exists()
