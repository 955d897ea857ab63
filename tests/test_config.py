import argparse
import dataclasses

import pytest

from distill.config import (
    add_arguments,
    config_from_args,
    from_dict,
    load_config,
    read_recipe,
    to_dict,
)
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
    with pytest.raises(ValueError, match=r"ce_weight must be in \[0, 1\], got 1.5"):
        HintonConfig(ce_weight=1.5)


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


def test_shipped_recipes_load_for_the_command_they_name_and_cover_every_training_command():
    from pathlib import Path

    from distill.cli import COMMANDS
    from distill.config import recipe_command

    recipes = sorted(Path(__file__).parents[1].joinpath("recipes").glob("*.yaml"))
    assert len(recipes) >= 8, "recipes not found"  # guard the guard
    covered = set()
    for r in recipes:
        said = recipe_command(r)
        assert said, f"{r.name} does not say which command it is for (command: …)"
        group, _, name = said.partition(" ")
        cls = COMMANDS[(group, name)].config_class()
        data = read_recipe(cls, r, said)
        for f in dataclasses.fields(cls):  # what a recipe leaves to the command line (DATASET, …)
            if f.name not in data and (f.metadata.get("required") or (f.metadata.get("flag") or "-")[0] != "-"):
                data[f.name] = "given-on-the-command-line"
        from_dict(cls, data)
        covered.add(said)
    training = {"experiment hinton", "classic train", "lm train", "docs train", "tabular run"}
    assert training <= covered, f"no recipe for {sorted(training - covered)}"


def test_a_recipe_for_another_command_is_refused(tmp_path):
    r = tmp_path / "r.yaml"
    r.write_text("command: lm train\nsteps: 5\n")
    with pytest.raises(ValueError, match="is for `distill lm train`, not `distill classic train`"):
        load_config(ClassicConfig, r, "classic train")


def _command_configs():
    from distill.cli import COMMANDS

    return sorted({cmd.config_class() for cmd in COMMANDS.values()}, key=lambda c: c.__name__)


def _walk(cls, prefix=""):
    from distill.config import _hints, _unwrap_optional

    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap_optional(hints[f.name])
        yield prefix + f.name, f, tp
        if dataclasses.is_dataclass(tp):
            yield from _walk(tp, prefix + f.name + ".")


def test_every_command_config_documents_every_field_and_is_frozen():
    classes = _command_configs()
    assert len(classes) >= 18
    for cls in classes:
        for name, f, _ in _walk(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{name} has no help text"
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls.__name__


def test_every_default_config_round_trips_through_plain_data():
    built = 0
    for cls in _command_configs():
        try:
            cfg = cls()
        except ValueError:  # a required setting (a data set, a student folder) has no default
            continue
        assert from_dict(cls, to_dict(cfg)) == cfg, cls.__name__
        built += 1
    assert built >= 8


def test_help_states_each_default_once_as_typed():
    from distill.cli import main

    def help_of(*cmd):
        with pytest.raises(SystemExit):
            main([*cmd, "--help"])

    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        help_of("classic", "train")
    text = " ".join(out.getvalue().split())
    assert "(default: Debian's Fashion- MNIST)" in text or "(default: Debian's Fashion-MNIST)" in text
    assert "(default: None)" not in text and "(default: ())" not in text and "(default: '" not in text
    assert "--hints [HINT ...]" in text and "(default: hidden2:hidden1)" in text  # a tuple as typed
    assert "--student {cnn,mlp-1200,mlp-800}" in text  # registry choices offered by argparse


def test_nested_settings_keep_the_parents_defaults_and_refuse_what_the_command_sets():
    from distill.docs.curve import DocsCurveConfig

    parser = argparse.ArgumentParser()
    add_arguments(parser, DocsCurveConfig)
    cfg = config_from_args(DocsCurveConfig, parser.parse_args(["d", "--eval.max-items", "5"]))
    assert cfg.eval.max_items == 5 and cfg.eval.judge == "none" and cfg.eval.compare_teacher is False
    options = {a for action in parser._actions for a in action.option_strings}
    assert "--train.lr" in options and "--eval.judge" in options
    assert not options & {"--train.dataset", "--train.out", "--train.steps", "--eval.student", "--eval.dataset",
                          "--train.lmbda", "--train.targets"}
    with pytest.raises(ValueError, match=r"\['train.steps'\] cannot be set here"):
        from_dict(DocsCurveConfig, {"dataset": "d", "train": {"steps": 9}})


def test_settings_a_command_does_not_use_are_not_its_options():
    from distill.docs.train import DocsTrainConfig

    parser = argparse.ArgumentParser()
    add_arguments(parser, DocsTrainConfig)
    options = {a for action in parser._actions for a in action.option_strings}
    assert "--lr" in options and "--loss" in options
    assert not options & {"--lmbda", "--max-new-tokens", "--max-windows", "--targets"}
    with pytest.raises(ValueError, match=r"\['lmbda'\] cannot be set here"):
        from_dict(DocsTrainConfig, {"dataset": "d", "lmbda": 0.5})


def test_registry_choices_are_checked_in_recipes_too():
    with pytest.raises(ValueError, match=r"student must be one of \['cnn', 'mlp-1200', 'mlp-800'\], got 'vit'"):
        from_dict(ClassicConfig, {"student": "vit"})


def test_lm_loss_names_are_the_loss_registry():
    import typing

    from distill.lm.names import Divergence, Loss
    from distill.losses import DIVERGENCES

    assert typing.get_args(Divergence) == tuple(DIVERGENCES)
    assert typing.get_args(Loss) == (*DIVERGENCES, "ce")


def _bare(cls):
    """An instance holding every field's default, without running any check (to probe one rule at a time)."""
    from distill.config import _field_default

    obj = object.__new__(cls)
    for f in dataclasses.fields(cls):
        value = _field_default(f)
        if f.metadata.get("required") and value in ("", (), None):
            value = "given"  # a required setting has no default: stand in a value
        object.__setattr__(obj, f.name, value)
    return obj


def _outside(f):
    """A value just outside a field's declared range (None when it declares none)."""
    m = f.metadata
    if "ge" in m:
        return m["ge"] - 1
    if "gt" in m:
        return m["gt"]
    if "le" in m:
        return m["le"] + 1
    if "lt" in m:
        return m["lt"]
    return None


def test_param_validation_over_every_setting_of_every_command():
    """scikit-learn's check_param_validation, for settings: each declared rule refuses a value just past
    it with a message naming the field, the value, the rule and the class; every class checks its rules
    on construction (made with config.settings); every default satisfies its rules."""
    from distill.config import validate

    probed = 0
    classes = {cls for top in _command_configs() for _, _, cls in [(None, None, top)] + list(_walk(top))
               if dataclasses.is_dataclass(cls)}
    for cls in sorted(classes, key=lambda c: c.__name__):
        assert getattr(cls.__post_init__, "validates", False), f"{cls.__name__} is not made with @settings"
        validate(_bare(cls))  # the defaults obey the declared rules
        for f in dataclasses.fields(cls):
            bad = _outside(f)
            if f.metadata.get("required"):
                bad = ""
            elif f.metadata.get("choices"):
                bad = "no-such-choice"
            elif bad is None:
                continue
            obj = _bare(cls)
            object.__setattr__(obj, f.name, bad)
            with pytest.raises(ValueError, match=rf"^{f.name} (must be|is required).*\({cls.__name__}\.{f.name}\)"):
                validate(obj)
            probed += 1
    assert probed >= 80


def test_construction_checks_the_declared_rules():
    with pytest.raises(ValueError, match=r"epochs must be ≥ 1, got 0 \(OptimConfig.epochs\)"):
        OptimConfig(epochs=0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1.0 \(OptimConfig.momentum\)"):
        from_dict(ClassicConfig, {"train": {"momentum": 1.0}})


def test_a_renamed_setting_keeps_its_old_name_for_a_release(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser, ClassicConfig)
    assert "--alpha" not in parser.format_help()  # hidden: help shows the current name only
    with pytest.warns(DeprecationWarning, match="'--alpha' is now called '--ce-weight'"):
        args = parser.parse_args(["--alpha", "0.3"])
    assert config_from_args(ClassicConfig, args).ce_weight == 0.3
    recipe = tmp_path / "r.yaml"
    recipe.write_text("alpha: 0.2\ntrain: {epochs: 3}\n")
    with pytest.warns(DeprecationWarning, match="'alpha' is now called 'ce_weight'"):
        assert load_config(ClassicConfig, recipe).ce_weight == 0.2
    with pytest.raises(ValueError, match="alpha and ce_weight are the same setting"):
        from_dict(ClassicConfig, {"alpha": 0.2, "ce_weight": 0.3})
