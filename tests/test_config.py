import argparse
import dataclasses

import pytest

from distill.config import add_arguments, config_from_args, from_dict, load_config, to_dict
from distill.experiments.hinton import HintonConfig
from distill.train.classic import ClassicConfig
from distill.train.classifier import OptimConfig

CONFIGS = [OptimConfig, ClassicConfig, HintonConfig]


@pytest.mark.parametrize("cls", CONFIGS)
def test_every_config_builds_with_defaults_and_documents_every_field(cls):
    assert len(CONFIGS) >= 3  # guard the guard
    cfg = cls()
    for f in dataclasses.fields(cls):
        assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"
    assert from_dict(cls, to_dict(cfg)) == cfg  # round trip through plain data


@pytest.mark.parametrize("cls", CONFIGS)
def test_configs_are_frozen(cls):
    cfg = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cfg, dataclasses.fields(cls)[0].name, None)


def test_unknown_keys_and_bad_types_are_named():
    with pytest.raises(ValueError, match=r"unknown OptimConfig setting\(s\) \['lrr'\]"):
        from_dict(OptimConfig, {"lrr": 0.1})
    with pytest.raises(ValueError, match="epochs must be int, got 'many'"):
        from_dict(OptimConfig, {"epochs": "many"})
    with pytest.raises(ValueError, match=r"schedule must be one of \['onecycle', 'cosine', 'constant'\], got 'step'"):
        from_dict(OptimConfig, {"schedule": "step"})
    with pytest.raises(ValueError, match="unknown OptimConfig setting.*train.nope"):
        from_dict(ClassicConfig, {"train": {"nope": 1}})


def test_cross_field_rules():
    with pytest.raises(ValueError, match="teachers must be exactly one teacher folder for mode response"):
        ClassicConfig(mode="response", teachers=())
    with pytest.raises(ValueError, match="teacher_weights must be empty or 2 weights"):
        ClassicConfig(mode="multi", teachers=("a", "b"), teacher_weights=(1.0,))
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 1.5"):
        HintonConfig(alpha=1.5)


def test_yaml_recipe_then_command_line_override(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("mode: labels\nstudent: mlp-1200\ntrain:\n  lr: 0.2\n  epochs: 5\n")
    parser = argparse.ArgumentParser()
    add_arguments(parser, ClassicConfig)
    args = parser.parse_args(["--train.epochs", "7", "--temperature", "3"])
    cfg = config_from_args(ClassicConfig, args, recipe)
    assert cfg.mode == "labels" and cfg.student == "mlp-1200"  # from the recipe
    assert cfg.train.lr == 0.2 and cfg.train.epochs == 7 and cfg.temperature == 3.0  # options win
    assert cfg.train.momentum == 0.9  # defaults fill the rest


def test_yaml_tags_that_run_code_are_refused(tmp_path):
    recipe = tmp_path / "evil.yaml"
    recipe.write_text("mode: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(Exception, match="could not determine a constructor"):
        load_config(ClassicConfig, recipe)


def test_shipped_recipes_load():
    from pathlib import Path

    recipes = sorted(Path(__file__).parents[1].joinpath("recipes").glob("*.yaml"))
    assert recipes, "no recipes found"  # guard the guard
    for r in recipes:
        cls = HintonConfig if r.name.startswith("hinton") else ClassicConfig
        if r.name.startswith("identity"):
            from distill.detect.identity.run import IdentityConfig as cls
        load_config(cls, r)
