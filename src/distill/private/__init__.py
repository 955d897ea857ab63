"""Private training by PATE: teachers on disjoint partitions of private data, noisy votes, a student.

    from sklearn.linear_model import LogisticRegression
    from distill.private import PrivateClassifier

    clf = PrivateClassifier(LogisticRegression(), LogisticRegression(), n_teachers=50, epsilon=2.0)
    clf.fit(X_private, y_private, X_public=X_unlabelled)
    clf.predict(X_new), clf.epsilon_, clf.epsilon_data_dependent_
"""

import importlib

# Imported on first use (PEP 562), so that `distill private run --help` reads without scikit-learn installed.
_WHERE = {"PrivateClassifier": "pate", "gnmax": "aggregate", "confident_gnmax": "aggregate",
          "vote_counts": "aggregate", "independent_epsilon": "accounting", "dependent_epsilon": "accounting"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'distill.private' has no attribute {name!r}")
    return getattr(importlib.import_module(f"distill.private.{_WHERE[name]}"), name)
