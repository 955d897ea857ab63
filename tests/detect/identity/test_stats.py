import pytest

from distill.detect.identity.stats import claim_rates
from distill.stats import wilson


@pytest.mark.parametrize("k,n,lo,hi", [
    # Textbook values (Wilson 1927, z = 1.96; e.g. 0/10 → [0, 0.2775], 5/10 → [0.2366, 0.7634]), worked out
    # by hand from (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n).
    (0, 10, 0.0, 0.2775),
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (1, 20, 0.0089, 0.2361),
])
def test_wilson_known_values(k, n, lo, hi):
    got = wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_wilson_no_data_is_the_whole_range():
    assert wilson(0, 0) == (0.0, 1.0)


def test_claim_rates_count_each_identity_and_no_claim():
    recs = [
        {"teacher": "a", "lang": "en", "condition": "no_system", "claims": ["openai"]},
        {"teacher": "a", "lang": "en", "condition": "no_system", "claims": ["openai", "claude"]},
        {"teacher": "a", "lang": "en", "condition": "no_system", "claims": []},
        {"teacher": "a", "lang": "fr", "condition": "no_system", "claims": ["gemma"]},
    ]
    labs = {"openai": "openai", "claude": "anthropic", "gemma": "google", "gemini": "google"}
    r = claim_rates(recs, list(labs), labs)
    en = r["a"]["en"]["no_system"]
    assert (en["openai"]["k"], en["openai"]["n"]) == (2, 3)
    assert en["claude"]["k"] == 1 and en["no_claim"]["k"] == 1 and en["gemma"]["k"] == 0
    pooled = r["a"]["all"]["no_system"]
    assert pooled["openai"]["n"] == 4 and pooled["labs"]["google"]["k"] == 1
    assert pooled["openai"]["rate"] == pytest.approx(0.5)
