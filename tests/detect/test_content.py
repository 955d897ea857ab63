"""Prompt templates across accounts (MinHash LSH) and word-for-word repeats."""

import pandas as pd
import pytest

pytest.importorskip("datasketch")

from distill.detect.content import repeated, template_keys  # noqa: E402


def test_near_duplicate_templates_link_accounts_and_unrelated_prompts_do_not():
    tpl = ("You are generating training data. Solve the following problem about {t}, writing out every "
           "intermediate step of your reasoning inside <trace> tags, then the final answer.")
    p = pd.DataFrame({"account_id": ["a", "b", "c", "d", "e"], "rn": 1, "prompt": [
        tpl.format(t="thermodynamics"), tpl.format(t="number theory 12"), tpl.format(t="graph colouring"),
        "What's a good name for a bakery in Lisbon?", "请帮我把这封邮件翻译成英文"]})
    k = template_keys(p)
    assert sorted(k["account_id"]) == ["a", "b", "c"] and k["k"].nunique() == 1
    assert (k["ktype"] == "template").all() and k["k"].iloc[0] == "tpl0"  # named by its first prompt


def test_template_keys_do_not_depend_on_row_order():
    p = pd.DataFrame({"account_id": list("abcdef"), "rn": 1,
                      "prompt": [f"Reason step by step about case {i} and show the whole trace please" for i in range(6)]})
    a = template_keys(p)
    b = template_keys(p.iloc[::-1])
    pd.testing.assert_frame_equal(a, b)


def test_repeated_finds_word_for_word_questions_across_accounts():
    p = pd.DataFrame({"account_id": ["s1", "s2", "s1", "op"],
                      "prompt": ["Solve 3x + 5 = 20, step by step!", "solve 3x+5 = 20 step by step", "Another one",
                                 "Solve 3x + 5 = 20, step by step"]})
    # "3x+5" and "3x + 5" tokenize differently ("3x", "5" vs "3x", "5"): both give words 3x 5 20
    assert repeated(p).tolist() == [True, True, False, True]
