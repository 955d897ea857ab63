"""The `distill` command line. Options are generated from the config dataclasses."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable

from distill import __version__
from distill.config import add_arguments, config_from_args

log = logging.getLogger("distill")


def _hinton(args: argparse.Namespace) -> dict:
    from distill.experiments import hinton

    cfg = config_from_args(hinton.HintonConfig, args, args.recipe)
    res = hinton.run(cfg)
    print((hinton.Path(res["config"]["out"]) / "results.md").read_text(), file=sys.stderr if args.json else sys.stdout)
    return res


def _classic_train(args: argparse.Namespace) -> dict:
    from distill.train import classic

    res = classic.run(config_from_args(classic.ClassicConfig, args, args.recipe))
    if not args.json:
        print(f"{res['mode']}: student test errors {res['student_errors']} of {res['test_size']}"
              + (f"; teacher(s) {res['teacher_errors']}" if "teacher_errors" in res else "")
              + f"; results in {res['config']['out']}/results.json")
    return res


def _lm_student(args: argparse.Namespace) -> dict:
    from distill.lm.student import StudentConfig, build_student

    cfg = config_from_args(StudentConfig, args, args.recipe)
    info = build_student(cfg.teacher, cfg.layers, cfg.out)
    if not args.json:
        print(f"student: layers {info['kept_layers']} of {info['teacher_layers']}, "
              f"{info['student_parameters']:,} of {info['teacher_parameters']:,} parameters → {cfg.out}")
    return info


def _lm_capture(args: argparse.Namespace) -> dict:
    from distill.lm import capture

    res = capture.run(config_from_args(capture.CaptureConfig, args, args.recipe))
    if not args.json:
        print(f"store {res['store']}: {res['windows']} windows, {res['tokens']:,} tokens in {res['shards']} shards, "
              f"{'top-' if res['kind'] == 'topk' else 'sampled, draws: '}{res['k']}: {res['bytes_per_token']} bytes/token "
              f"(dense fp16: {res['dense_fp16_bytes_per_token']:,})")
    return res


def _lm_train(args: argparse.Namespace) -> dict:
    from distill.lm import train

    res = train.run(config_from_args(train.LMTrainConfig, args, args.recipe))
    if not args.json:
        print(f"trained {res['steps']} steps in {res['seconds']} s → {res.get('model', res['out'])}")
    return res


def _lm_eval(args: argparse.Namespace) -> dict:
    from distill.lm import evaluate

    res = evaluate.evaluate(config_from_args(evaluate.LMEvalConfig, args, args.recipe))
    if not args.json:
        print(evaluate.markdown(res))
    return res


def _lm_quickstart(args: argparse.Namespace) -> dict:
    from distill.lm import quickstart

    res = quickstart.run(config_from_args(quickstart.QuickstartConfig, args, args.recipe))
    print(quickstart.markdown(res), file=sys.stderr if args.json else sys.stdout)
    return res


# (group, name) → (help, config class loader, handler). The one list of subcommands.
def _commands() -> dict[tuple[str, str], tuple[str, Callable, Callable]]:
    def hinton_cfg():
        from distill.experiments.hinton import HintonConfig

        return HintonConfig

    def classic_cfg():
        from distill.train.classic import ClassicConfig

        return ClassicConfig

    def lm_student_cfg():
        from distill.lm.student import StudentConfig

        return StudentConfig

    def lm_capture_cfg():
        from distill.lm.capture import CaptureConfig

        return CaptureConfig

    def lm_train_cfg():
        from distill.lm.train import LMTrainConfig

        return LMTrainConfig

    def lm_eval_cfg():
        from distill.lm.evaluate import LMEvalConfig

        return LMEvalConfig

    def lm_quickstart_cfg():
        from distill.lm.quickstart import QuickstartConfig

        return QuickstartConfig

    return {
        ("lm", "quickstart"): (
            "Demo: teacher → half-depth student on Python's docs, KD vs CE-only side by side.",
            lm_quickstart_cfg, _lm_quickstart),
        ("lm", "eval"): (
            "Compare student and teacher: perplexity, KL, top-1 agreement, speed, size.",
            lm_eval_cfg, _lm_eval),
        ("lm", "train"): (
            "Distill a causal LM: off-policy from a target store or a live teacher, or on-policy (GKD λ).",
            lm_train_cfg, _lm_train),
        ("lm", "capture"): (
            "Run the teacher over a corpus once; store its top-k targets in resumable shards.",
            lm_capture_cfg, _lm_capture),
        ("lm", "student"): (
            "Build a student by keeping a subset of the teacher's decoder layers (weights copied).",
            lm_student_cfg, _lm_student),
        ("experiment", "hinton"): (
            "Reproduce Hinton et al. (2015): teacher, student alone, distilled student, T sweep, omitted class.",
            hinton_cfg, _hinton),
        ("classic", "train"): (
            "Classifier distillation: labels | response | feature | multi | self (born-again).",
            classic_cfg, _classic_train),
    }


GROUP_HELP = {
    "experiment": "reference experiments from the literature, reproduced",
    "classic": "classic (classifier) distillation",
    "lm": "white-box distillation of causal language models",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distill", description="Knowledge distillation: teachers, students, and detection of distillation."
    )
    parser.add_argument("--version", action="version", version=f"distill {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    sub_by_group: dict[str, argparse._SubParsersAction] = {}
    for (group, name), (help_text, cfg_cls, handler) in _commands().items():
        if group not in sub_by_group:
            g = groups.add_parser(group, help=GROUP_HELP[group], description=GROUP_HELP[group])
            sub_by_group[group] = g.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
        p = sub_by_group[group].add_parser(name, help=help_text, description=help_text)
        p.add_argument("--recipe", metavar="YAML", help="read settings from a YAML recipe; options override it")
        p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
        p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
        add_arguments(p, cfg_cls())
        p.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = args.handler
    for k in ("group", "command", "handler", "verbose"):
        delattr(args, k)
    try:
        result = handler(args)
    except ModuleNotFoundError as e:  # an optional extra is missing: say which install fixes it
        extra = {"transformers": "lm", "tokenizers": "lm", "peft": "lm", "gguf": "lm", "datasets": "lm"}.get(
            (e.name or "").split(".")[0], "all")
        print(f"distill: error: this command needs the Python package {e.name!r}; install it with "
              f"pip install 'distill[{extra}]' (from a checkout: pip install -e '.[{extra}]').", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f"distill: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    return 0
