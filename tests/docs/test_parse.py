import pytest

from distill.docs.parse import Malformed, parse_items, parse_judge, parse_questions


def test_json_with_fences_prose_and_trailing_commas():
    reply = ('Sure! Here you go:\n```json\n{"items": [{"question": "Q1?", "reasoning": "", "answer": "A1"},'
             ' {"Question": "Q2?", "answer": "A2", "reasoning": ["x", "y"]},]}\n```')
    assert parse_items(reply) == [{"question": "Q1?", "reasoning": "", "answer": "A1"},
                                  {"question": "Q2?", "reasoning": "x y", "answer": "A2"}]


def test_bare_list_and_single_object():
    assert parse_items('[{"q": "Why?", "a": "Because."}]') == [{"question": "Why?", "reasoning": "", "answer": "Because."}]
    assert parse_items('{"question": "Why?", "answer": "Because."}')[0]["answer"] == "Because."


def test_labelled_lines_including_a_missing_first_label():
    reply = "What does pass do?\nAnswer: Nothing happens.\n\nQuestion: When is it useful?\nReasoning: r\nAnswer: As a placeholder."
    assert parse_items(reply) == [{"question": "What does pass do?", "reasoning": "", "answer": "Nothing happens."},
                                  {"question": "When is it useful?", "reasoning": "r", "answer": "As a placeholder."}]


@pytest.mark.parametrize("reply, why", [
    ("", "empty"),
    ('{"items": [{"question": "Q?", "answer": ', "truncated"),
    ('{"items": [{"question": "Q?"}]}', "wrong fields"),
    ("<html><body>502 Bad Gateway</body></html>", "no question"),
    ("I cannot help with that.", "no question"),
])
def test_malformed_replies_raise_with_a_reason(reply, why):
    with pytest.raises(Malformed, match=why):
        parse_items(reply)


def test_questions_one_per_line():
    text = "1. Does it support OAuth?\n- What is the price per seat?\nnot a question\n"
    assert parse_questions(text, 5) == ["Does it support OAuth?", "What is the price per seat?"]
    with pytest.raises(Malformed):
        parse_questions("no questions here", 2)


def test_judge_scores():
    assert parse_judge('{"score": 2, "reason": "ok"}') == (2, "ok")
    assert parse_judge("Score: 1 — partly right")[0] == 1
    with pytest.raises(Malformed):
        parse_judge("excellent")
