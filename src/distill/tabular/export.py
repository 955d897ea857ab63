"""A saved student (encoder + model) as one ONNX graph, run with onnxruntime; and ``fastest``, which picks
the quickest way to serve a pipeline: FastStudent (plain NumPy), else ONNX, else the pipeline itself.

The graph has one input per training column, ``[N, 1]`` each: float for numeric columns (NaN = missing),
string for the others (``""`` = missing; the categorical imputer is exported with ``""`` as its marker,
since an ONNX string tensor holds no NaN). skl2onnx has no converter for ``SimpleImputer(add_indicator=True)``
(make_encoder's numeric imputer), so this module registers one for a private subclass and exports a copy of
the pipeline whose imputer is of that class; nothing of skl2onnx's own registry is changed.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
from pathlib import Path

import numpy as np

from distill.tabular.fast import FastStudent, NotTranslatable, missing_cell

log = logging.getLogger(__name__)
COLUMNS_KEY = "distill.columns"  # metadata: JSON list, the training column of each graph input, in order
INFREQUENT_KEY = "distill.infrequent"  # metadata: JSON {column: [frequent categories, the stand-in]}
TOLERANCE = 1e-5  # float32 graph vs float64 scikit-learn: the largest probability difference export accepts


def _imputer_with_flags_class():
    """SimpleImputer(add_indicator=True) on numbers, with an skl2onnx converter: [imputed kept columns, flags]."""
    from onnx import TensorProto
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.operator_converters.common import concatenate_variables
    from sklearn.impute import SimpleImputer

    global _ImputerWithFlags
    if "_ImputerWithFlags" in globals():
        return _ImputerWithFlags

    class _ImputerWithFlags(SimpleImputer):
        pass

    def parts(op):
        stats = np.asarray(op.statistics_, dtype=np.float64)
        keep = np.flatnonzero(~np.isnan(stats))
        ind = op.indicator_
        flags = np.asarray(ind.features_, dtype=np.int64) if ind is not None else np.zeros(0, dtype=np.int64)
        return keep.astype(np.int64), stats[keep].astype(np.float32), flags

    def shape(operator):
        keep, _, flags = parts(operator.raw_operator)
        operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), len(keep) + len(flags)])

    def convert(scope, operator, container):
        keep, fill, flags = parts(operator.raw_operator)
        x = concatenate_variables(scope, operator.inputs, container)  # (N, columns) float
        name = scope.get_unique_variable_name

        def init(value, dtype):
            n = name("c")
            container.add_initializer(n, dtype, list(value.shape), value.ravel().tolist())
            return n

        miss = name("miss")
        container.add_node("IsNaN", [x], [miss])
        kept, kept_miss, filled = name("kept"), name("kept_miss"), name("filled")
        container.add_node("Gather", [x, init(keep, TensorProto.INT64)], [kept], axis=1)
        container.add_node("Gather", [miss, init(keep, TensorProto.INT64)], [kept_miss], axis=1)
        container.add_node("Where", [kept_miss, init(fill.reshape(1, -1), TensorProto.FLOAT), kept], [filled])
        outs = [filled]
        if len(flags):
            flag_b, flag_f = name("flag_b"), name("flag_f")
            container.add_node("Gather", [miss, init(flags, TensorProto.INT64)], [flag_b], axis=1)
            container.add_node("Cast", [flag_b], [flag_f], to=TensorProto.FLOAT)
            outs.append(flag_f)
        container.add_node("Concat", outs, [operator.outputs[0].full_name], axis=1)

    update_registered_converter(_ImputerWithFlags, "DistillImputerWithFlags", shape, convert)
    return _ImputerWithFlags


@contextlib.contextmanager
def _int_missing_tracks():
    """skl2onnx 1.20 passes a Python bool as a leaf's ``nodes_missing_value_tracks_true`` when it converts a
    HistGradientBoosting model, which onnx refuses ("Expected an int, got a boolean"); pass it as an int,
    for the duration of one export only."""
    from skl2onnx.common import tree_ensemble

    original = tree_ensemble.add_node

    def add_node(*args, **kw):
        if isinstance(kw.get("nodes_missing_value_tracks_true"), (bool, np.bool_)):
            kw["nodes_missing_value_tracks_true"] = int(kw["nodes_missing_value_tracks_true"])
        return original(*args, **kw)

    tree_ensemble.add_node = add_node
    try:
        yield
    finally:
        tree_ensemble.add_node = original


def _exportable(pipeline):
    """A copy of ``pipeline`` skl2onnx can convert, {column: "float" | "string"} of its encoder's inputs, and
    {column: (frequent categories, stand-in)} for columns with infrequent categories (``_without_infrequent``)."""
    from sklearn.impute import SimpleImputer

    pipe = copy.deepcopy(pipeline)
    encoder = pipe.steps[0][1]
    kinds: dict[str, str] = {}
    infrequent: dict[str, tuple[list[str], str]] = {}
    for _, part, columns in getattr(encoder, "transformers_", []):
        if part == "drop" or len(columns) == 0:
            continue
        steps = [s for _, s in part.steps] if hasattr(part, "steps") else [part]
        text = any(type(s).__name__ == "OneHotEncoder" for s in steps)
        for s in steps:
            if type(s) is SimpleImputer and not text and s.add_indicator:
                s.__class__ = _imputer_with_flags_class()
            elif type(s) is SimpleImputer and text:
                s.missing_values = ""  # ONNX strings have no NaN: "" marks a missing cell
        if text and type(steps[-1]).__name__ == "OneHotEncoder":
            part.steps[-1] = (part.steps[-1][0], _without_infrequent(steps[-1], steps[0], columns, infrequent))
        kinds.update({c: "string" if text else "float" for c in columns})
    if not kinds:
        raise NotTranslatable(f"export_onnx reads a pipeline whose first step is a fitted ColumnTransformer "
                              f"(make_encoder), got {type(encoder).__name__}.")
    return pipe, kinds, infrequent


def _without_infrequent(ohe, imputer, columns, infrequent: dict):
    """An OneHotEncoder with the same output and no infrequent categories (skl2onnx converts those only when
    each column is a graph input of its own, and refuses unseen ones): each column's categories are its
    frequent ones then one infrequent one as a stand-in, and ``infrequent`` gets {column: (frequent
    categories, stand-in)} so that OnnxStudent sends infrequent and unseen categories as the stand-in."""
    from sklearn.preprocessing import OneHotEncoder

    if ohe.drop is not None or ohe.handle_unknown not in ("ignore", "infrequent_if_exist"):
        raise NotTranslatable(f"OneHotEncoder(drop={ohe.drop!r}, handle_unknown={ohe.handle_unknown!r}) is not "
                              "exported.")
    inf = getattr(ohe, "infrequent_categories_", None) or [None] * len(columns)
    cats = []
    for c, known, rare, fill in zip(columns, ohe.categories_, inf, imputer.statistics_, strict=True):
        if rare is None:
            cats.append(list(known))
            continue
        frequent = [str(v) for v in known if v not in set(rare)]
        if str(fill) not in frequent:
            raise NotTranslatable(f"column {c!r} imputes the infrequent category {fill!r}; not exported.")
        infrequent[c] = (frequent, str(rare[0]))
        cats.append(frequent + [str(rare[0])])
    sample = np.array([[cs[min(r, len(cs) - 1)] for cs in cats] for r in range(max(map(len, cats)))], dtype=object)
    return OneHotEncoder(categories=cats, handle_unknown="ignore", sparse_output=False, dtype=ohe.dtype).fit(sample)


def export_onnx(pipeline, X_sample, path: str | Path, opset: int = 18) -> Path:
    """Write ``pipeline`` (make_encoder + student) as one ONNX graph to ``path`` (atomically).

    Args:
        pipeline: a fitted ``make_pipeline(make_encoder(X).fit(X), student)``.
        X_sample: raw rows (DataFrame) to check the graph on, or None to skip the check; the graph's
            probabilities must match the pipeline's to ``TOLERANCE``, else nothing is written.
        path: where to write the ``.onnx`` file; a temporary file beside it is renamed into place.
        opset: the ONNX opset of the main domain.

    Returns:
        the path written.
    """
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    pipe, kinds, infrequent = _exportable(pipeline)
    types = [(c, FloatTensorType([None, 1]) if k == "float" else StringTensorType([None, 1])) for c, k in kinds.items()]
    with _int_missing_tracks():
        onx = to_onnx(pipe, initial_types=types, target_opset={"": opset, "ai.onnx.ml": 3},
                      options={id(pipe.steps[-1][1]): {"zipmap": False}})
    # skl2onnx renames inputs whose column name is not an identifier ("mean radius" → "mean_radius"); the
    # graph keeps the column each input reads, in input order.
    graph_inputs = [i.name for i in onx.graph.input]
    if len(graph_inputs) != len(kinds):
        raise RuntimeError(f"skl2onnx made {len(graph_inputs)} graph inputs for {len(kinds)} columns.")
    meta = onx.metadata_props.add()
    meta.key, meta.value = COLUMNS_KEY, json.dumps(list(kinds))
    meta = onx.metadata_props.add()
    meta.key, meta.value = INFREQUENT_KEY, json.dumps(infrequent)
    data = onx.SerializeToString()
    if X_sample is not None:
        got = OnnxStudent(data).predict_proba(X_sample)
        want = pipeline.predict_proba(X_sample)
        worst = float(np.abs(got - want).max())
        if not worst <= TOLERANCE:
            raise ValueError(f"the ONNX graph's probabilities differ from the pipeline's by up to {worst:.2e} on "
                             f"X_sample (more than {TOLERANCE:g}); not writing {path}.")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class OnnxStudent:
    """An exported student run with onnxruntime (one thread: batch-1 latency is what it is for)."""

    def __init__(self, model: str | Path | bytes, threads: int = 1):
        """Open an exported graph in onnxruntime.

        Args:
            model: the .onnx file, or its bytes.
            threads: intra-op threads (1: batch-1 serving is fastest without thread hand-offs).
        """
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        graph = self.session.get_inputs()
        meta = self.session.get_modelmeta().custom_metadata_map
        columns = json.loads(meta[COLUMNS_KEY]) if COLUMNS_KEY in meta else [i.name for i in graph]
        # (graph input, training column, whether it is text)
        self.inputs = [(i.name, c, i.type == "tensor(string)") for i, c in zip(graph, columns, strict=True)]
        # column → (frequent categories, the infrequent stand-in that other categories are sent as)
        self.infrequent = {c: (set(known), rep) for c, (known, rep) in json.loads(meta.get(INFREQUENT_KEY, "{}")).items()}
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = "probabilities" if "probabilities" in outputs else outputs[-1]

    def feed(self, rows) -> dict[str, np.ndarray]:
        """The graph's inputs for raw rows.

        Args:
            rows: a dict, a list of dicts, or a DataFrame.

        Returns:
            One (N, 1) array per graph input, by input name.
        """
        if isinstance(rows, dict):
            rows = [rows]
        if hasattr(rows, "columns"):
            cols = {c: rows[c].tolist() for _, c, _ in self.inputs if c in rows.columns}
        else:
            rows = list(rows)
            cols = {c: [r[c] for r in rows] for _, c, _ in self.inputs if all(c in r for r in rows)}
        absent = [c for _, c, _ in self.inputs if c not in cols]
        if absent:
            raise ValueError(f"rows lack the training column(s) {absent}.")
        feed = {}
        for name, column, text in self.inputs:
            cells = cols[column]
            if text:
                cells = ["" if missing_cell(v) else str(v) for v in cells]
                if column in self.infrequent:
                    known, rep = self.infrequent[column]
                    cells = [v if v == "" or v in known else rep for v in cells]
                feed[name] = np.array(cells, dtype=object).reshape(-1, 1)
            else:
                feed[name] = np.array([[math.nan if missing_cell(v) else v] for v in cells], dtype=np.float32)
        return feed

    def predict_proba(self, rows) -> np.ndarray:
        """Probabilities for raw rows.

        Args:
            rows: a dict, a list of dicts, or a DataFrame.

        Returns:
            (n, K) float32 probabilities, columns in the order of the student's ``classes_``.
        """
        return self.session.run([self.output], self.feed(rows))[0]


def fastest(pipeline, X_sample=None, onnx_path: str | Path | None = None):
    """The quickest translation of ``pipeline`` that gives its probabilities.

    FastStudent when it translates the pipeline; else, with skl2onnx and onnxruntime installed, the pipeline
    exported to ``onnx_path`` (a temporary file when None) and run as an OnnxStudent; else the pipeline.
    The ONNX graph is checked on ``X_sample`` (pass some rows: without them it is used unchecked); a graph
    that fails the check or the conversion is logged and the pipeline returned. Float32 is the one limit
    found: a HistGradientBoosting student splits float64 features, and on breast_cancer and framingham its
    float32 graph moves some rows across a split. Each return value has ``predict_proba(rows)``.

    Args:
        pipeline: the fitted student pipeline (encoder, student).
        X_sample: raw rows the ONNX graph is checked on.
        onnx_path: where the graph is written (None: a temporary file).

    Returns:
        A FastStudent, an OnnxStudent or ``pipeline``.
    """
    try:
        return FastStudent.from_pipeline(pipeline)
    except NotTranslatable as e:
        log.info("FastStudent: %s", e)
    try:
        import onnxruntime  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError:
        log.info("skl2onnx or onnxruntime is not installed; serving the scikit-learn pipeline")
        return pipeline
    if X_sample is None:
        log.warning("fastest: no X_sample, so the ONNX graph is not checked against the pipeline")
    try:
        if onnx_path is None:
            import tempfile

            with tempfile.TemporaryDirectory() as d:
                return OnnxStudent(export_onnx(pipeline, X_sample, Path(d) / "student.onnx").read_bytes())
        return OnnxStudent(export_onnx(pipeline, X_sample, onnx_path))
    except (NotTranslatable, ValueError, RuntimeError, NotImplementedError) as e:
        log.warning("fastest: ONNX export not used (%s); serving the scikit-learn pipeline", e)
        return pipeline


class Deployed:
    """A loaded student for serving: ``predict_proba`` runs the fastest exact translation of the pipeline.

    Args:
        pipeline: the fitted student pipeline (encoder, student).
        X_sample: raw rows an ONNX graph would be checked on; None: FastStudent or the pipeline only
            (an unchecked float32 graph is not exact, so it is never used unasked).

    Attributes:
        pipeline: the scikit-learn pipeline (the reference; use it for ``export_onnx`` and refits).
        fast: what ``predict_proba`` calls: a FastStudent, an OnnxStudent or the pipeline.
        path: that object's class name, e.g. "FastStudent".
        classes_: the class labels.
    """

    def __init__(self, pipeline, X_sample=None):
        self.pipeline = pipeline
        if X_sample is None:
            try:
                self.fast = FastStudent.from_pipeline(pipeline)
            except NotTranslatable as e:
                log.info("FastStudent: %s; serving the scikit-learn pipeline", e)
                self.fast = pipeline
        else:
            self.fast = fastest(pipeline, X_sample)
        self.path = type(self.fast).__name__
        self.classes_ = np.asarray(pipeline.classes_)

    def predict_proba(self, rows) -> np.ndarray:
        """Probabilities for raw rows (the pipeline's, to floating-point rounding).

        Args:
            rows: a dict (one row), a list of dicts, or a DataFrame with the training columns.

        Returns:
            (n, K) probabilities, columns in the order of ``classes_``.
        """
        if self.fast is self.pipeline and not hasattr(rows, "columns"):
            import pandas as pd

            rows = pd.DataFrame([rows] if isinstance(rows, dict) else list(rows))
        return np.asarray(self.fast.predict_proba(rows))

    def predict(self, rows) -> np.ndarray:
        """The most probable class of each raw row.

        Args:
            rows: as for ``predict_proba``.

        Returns:
            Labels (n,).
        """
        return self.classes_[np.argmax(self.predict_proba(rows), axis=1)]

    def __repr__(self) -> str:
        return f"Deployed({self.path}, classes={self.classes_.tolist()})"
