"""`distill tabular export RUN`: the student of a `distill tabular run` as one ONNX graph (encoder included).

The graph is checked against the saved pipeline on the run's own training rows (read again from the
data set or CSV its results.json names) before it is written; a graph that disagrees is not written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from distill.config import doc, from_dict, settings
from distill.results import Result


@settings
class TabularExportConfig:
    """Settings of `distill tabular export`."""

    run: str = doc("the output folder of `distill tabular run` (holds student.skops and results.json)",
                   flag="run", default="", required=True)
    format: Literal["onnx"] = doc("onnx: one graph, encoder + student, for onnxruntime in any language",
                                  default="onnx")
    out: str = doc("where to write the graph (default: RUN/student.onnx)", default="")


class OnnxExportResult(Result):
    """What `distill tabular export` returns: the graph written and how closely it matches the pipeline."""

    model: str
    rows_checked: int
    max_abs_diff: float
    out: str

    def summary(self) -> str:
        return (f"ONNX graph {self['model']}: probabilities within {self['max_abs_diff']:.0e} of the saved pipeline "
                f"on {self['rows_checked']:,} rows")


def run(cfg: TabularExportConfig) -> OnnxExportResult:
    """Export the run's student; returns where it went and how far its probabilities are from the pipeline's.

    Args:
        cfg: the settings.

    Returns:
        {"model", "rows_checked", "max_abs_diff", "out"}.

    Raises:
        FileNotFoundError: the run folder lacks student.skops or results.json.
    """
    import numpy as np

    from distill.tabular.export import OnnxStudent, export_onnx
    from distill.tabular.run import TabularRunConfig, load_data, load_student

    folder = Path(cfg.run)
    for name in ("student.skops", "results.json"):
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder / name} not found: pass the output folder of `distill tabular run`.")
    pipeline = load_student(folder / "student.skops", fast=False)
    run_cfg = from_dict(TabularRunConfig, json.loads((folder / "results.json").read_text())["config"])
    X = load_data(run_cfg).X
    out = Path(cfg.out) if cfg.out else folder / "student.onnx"
    export_onnx(pipeline, X, out)
    diff = float(np.abs(OnnxStudent(out).predict_proba(X) - pipeline.predict_proba(X)).max())
    return OnnxExportResult(model=str(out), rows_checked=len(X), max_abs_diff=diff, out=str(out.parent))
