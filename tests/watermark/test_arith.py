"""The addition task: traces are right (values), fixed-length, parse back, and the scorer counts right answers."""

import pytest

from distill.watermark import arith


def test_trace_values_and_lengths():
    assert arith.prompt(7, 68) == "07+68:"
    assert arith.trace(57, 68) == "7+8+0=15;5+6+1=12;125."
    assert arith.trace(0, 0) == "0+0+0=00;0+0+0=00;000."
    assert arith.trace(99, 1) == "9+1+0=10;9+0+1=10;100."
    for a, b in ((3, 4), (99, 99), (50, 49)):
        assert len(arith.prompt(a, b)) == arith.PROMPT_CHARS and len(arith.trace(a, b)) == arith.TRACE_CHARS
        assert arith.final_answer(arith.trace(a, b)) == a + b
    with pytest.raises(ValueError, match="0..99"):
        arith.prompt(100, 1)


def test_encode_decode_and_answers():
    s = arith.prompt(12, 34) + arith.trace(12, 34)
    assert arith.decode(arith.encode(s)) == s
    assert arith.encode("0+:") == [0, 10, 11]
    with pytest.raises(ValueError, match="not in the arithmetic vocabulary"):
        arith.encode("1a")
    assert arith.decode([15]) == "?"
    assert arith.final_answer("7+8+0=15;5+6+1=12;124.") == 124  # stated answer, whatever the steps say
    assert arith.final_answer("7+8+0=15;5+6+1=12;12..") is None
    assert arith.final_answer("7+8+0=15;5+6+1=1;1254.") is None


def test_accuracy_and_split():
    pairs = [(1, 2), (50, 50), (9, 9)]
    assert arith.accuracy(pairs, [arith.trace(1, 2), "0+0+0=00;0+0+0=00;100.", "junk"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="as many traces"):
        arith.accuracy(pairs, ["x"])
    a, b = arith.split_pairs(3, [100, 50])
    assert len(a) == 100 and len(b) == 50 and not set(a) & set(b)
    assert arith.split_pairs(3, [100, 50]) == [a, b] and arith.split_pairs(4, [100])[0] != a
    with pytest.raises(ValueError, match="10,000"):
        arith.split_pairs(0, [9000, 2000])
