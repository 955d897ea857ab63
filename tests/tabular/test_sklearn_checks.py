"""scikit-learn's own estimator checks on DistilledClassifier (a small, fast teacher and student).

No check is skipped by us: every check scikit-learn yields for this estimator passes.
(scikit-learn itself skips check_array_api_input unless SCIPY_ARRAY_API is set; its
sample-weight checks do not apply because fit takes no sample_weight.)
"""

import pytest

pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402
from sklearn.utils.estimator_checks import estimator_checks_generator  # noqa: E402

from distill.tabular.estimator import DistilledClassifier  # noqa: E402

ESTIMATOR = DistilledClassifier(LogisticRegression(max_iter=200), DecisionTreeClassifier(max_depth=3, random_state=0),
                                cv=3, random_state=0)
CHECKS = list(estimator_checks_generator(ESTIMATOR, legacy=True, mark="skip"))


def _name(check) -> str:
    return getattr(check, "func", check).__name__


@pytest.mark.parametrize("estimator, check", CHECKS, ids=[_name(c) for _, c in CHECKS])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_checks_were_collected():
    # Guard the guard: the parametrization above must hold scikit-learn's many checks, including the
    # classifier-specific ones.
    names = {_name(c) for _, c in CHECKS}
    assert len(CHECKS) >= 40
    assert {"check_classifiers_train", "check_estimators_unfitted", "check_fit_idempotent"} <= names
