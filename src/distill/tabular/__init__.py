"""Tabular distillation: a teacher's out-of-fold soft labels → small, fast, calibrated students.

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from distill.tabular import DistilledClassifier

    clf = DistilledClassifier(RandomForestClassifier(500), LogisticRegression(), cv=5).fit(X, y)
    clf.predict_proba(X_new)  # the student; clf.teacher_ is the teacher refitted on all rows
"""

from distill.tabular.datasets import DATASETS, load_csv, load_dataset, make_encoder
from distill.tabular.estimator import DistilledClassifier
from distill.tabular.students import STUDENTS, TEACHERS

__all__ = ["DATASETS", "STUDENTS", "TEACHERS", "DistilledClassifier", "load_csv", "load_dataset", "make_encoder"]
