"""scikit-learn's own estimator checks on DistilledClassifier (a small, fast teacher and student).

No check is skipped: all of scikit-learn's checks that apply pass. (check_array_api_input is
skipped by scikit-learn itself unless SCIPY_ARRAY_API is set; sample-weight checks do not apply
because fit takes no sample_weight.)
"""

import pytest

pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from distill.tabular.estimator import DistilledClassifier  # noqa: E402

ESTIMATORS = [DistilledClassifier(LogisticRegression(max_iter=200), DecisionTreeClassifier(max_depth=3, random_state=0),
                                  cv=3, random_state=0)]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_checks_were_collected():
    # Guard the guard: the parametrization above must have produced many checks.
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(ESTIMATORS[0], on_fail=None)
    assert len(results) >= 40
    assert all(r["status"] in ("passed", "skipped") for r in results), [
        r["check_name"] for r in results if r["status"] not in ("passed", "skipped")]
