"""Tabular distillation: a teacher's out-of-fold soft labels → small, fast, calibrated students.

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from distill.tabular import DistilledClassifier

    clf = DistilledClassifier(RandomForestClassifier(500), LogisticRegression(), cv=5).fit(X, y)
    clf.predict_proba(X_new)  # the student; clf.teacher_ is the teacher refitted on all rows

    from distill.tabular.run import load_student
    load_student("OUT/student.skops").predict_proba({"age": 61, "sex": "F"})  # serving: NumPy fast path
"""

import importlib

# Imported on first use (PEP 562), so that `distill tabular run --help` reads without scikit-learn installed.
_WHERE = {"DATASETS": "datasets", "load_csv": "datasets", "load_dataset": "datasets", "make_encoder": "datasets",
          "DistilledClassifier": "estimator", "STUDENTS": "students", "TEACHERS": "students",
          "FastStudent": "fast", "OnnxStudent": "export", "export_onnx": "export", "fastest": "export"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'distill.tabular' has no attribute {name!r}")
    return getattr(importlib.import_module(f"distill.tabular.{_WHERE[name]}"), name)
