import pytest

from distill.lm import collapse, speed
from distill.lm.quickstart import markdown as qs_markdown
from distill.lm.quickstart import speedups, verdict


def test_a_model_that_predicts_one_token_is_flagged_with_the_token_and_share():
    preds = [198] * 255 + [11]  # 198 = "\n" in SmolLM2's vocabulary
    teacher = [198] * 25 + list(range(1000, 1231))  # the teacher predicts a newline at 25/256 positions
    found = collapse.detect(preds, [[198] * 16], ["\n" * 16], reference=teacher, name=lambda t: '"\\n"')
    assert found["collapsed"] and found["dominant_token"] == 198 and found["dominant_count"] == 255
    assert found["positions"] == 256 and found["dominant_share"] == pytest.approx(255 / 256)
    assert found["reference_share"] == pytest.approx(25 / 256)
    # 16 newlines: 14 trigrams, all the same one, so 13 of 14 are repeats
    assert found["repeated_share"] == pytest.approx(13 / 14) and found["blank"] == 1
    assert found["reasons"] == ['predicts "\\n" at 255/256 positions (reference: 10%)',
                                "generation repeats itself (93% of its 3-grams are repeats)",
                                "generates whitespace only"]
    assert collapse.verdict(found["reasons"]).startswith('collapsed: predicts "\\n" at 255/256')


def test_a_healthy_model_is_not_flagged():
    preds = [i % 40 for i in range(256)]  # the most frequent prediction is 7/256 ≈ 3 % of positions
    found = collapse.detect(preds, [list(range(16))], ["is used to wrap the execution of a block"],
                            reference=preds)
    assert not found["collapsed"] and found["reasons"] == [] and verdict_is_empty(found)
    assert found["dominant_share"] == pytest.approx(7 / 256) and found["repeated_share"] == 0.0


def verdict_is_empty(found):
    return collapse.verdict(found["reasons"]) == ""


def test_a_token_the_reference_predicts_as_often_is_not_blamed():
    # text that is mostly one token (a table of dashes): the teacher predicts it at 70 %, the model at 80 %
    found = collapse.detect([5] * 80 + [1] * 20, reference=[5] * 70 + [2] * 30)
    assert not found["collapsed"] and found["dominant_share"] == 0.8 and found["reference_share"] == 0.7
    # without a reference, a share ≥ ½ is collapse on its own; below ½ it is not
    assert collapse.detect([5] * 50 + list(range(50)))["collapsed"]
    assert not collapse.detect([5] * 49 + list(range(100, 151)))["collapsed"]


def test_repeated_share_by_hand():
    assert collapse.repeated_share("abcabcabc") == pytest.approx(4 / 7)  # 7 trigrams, 3 distinct
    assert collapse.repeated_share("abcdefg") == 0.0
    assert collapse.repeated_share("ab") == 0.0  # fewer tokens than n: nothing can repeat
    assert collapse.repeated_share([1, 1, 1, 1], n=1) == 0.75


def test_answers_that_are_blank_or_all_the_same_are_flagged():
    assert collapse.detect_answers(["\n\n", " ", "\n", "The with statement."])["reasons"] == [
        "3/4 answers are whitespace only"]
    same = collapse.detect_answers(["I do not know."] * 3 + ["Use a context manager."])
    assert same["collapsed"] and same["same_answer"] == 3
    assert same["reasons"] == ["3/4 answers are the same text 'I do not know.'"]
    ok = collapse.detect_answers(["Use `with`.", "It returns None.", "Pass timeout=5.", "No."])
    assert not ok["collapsed"] and ok["blank"] == 0 and ok["same_answer"] == 1


def test_speeds_that_overlap_show_no_difference():
    a, b = speed.spread([100, 104, 98, 101, 120]), speed.spread([110, 118, 125, 112, 115])
    assert a["median"] == 101 and (a["min"], a["max"]) == (98, 120) and a["repeats"] == 5
    assert speed.overlap(a, b) and speed.ratio(a, b) is None and speed.fmt_ratio(a, b) == "≈ 1×"
    c = speed.spread([150, 160, 155, 158, 152])
    assert not speed.overlap(a, c) and speed.ratio(c, a) == pytest.approx(155 / 101)
    assert speed.fmt_ratio(c, a) == "1.53×" and speed.fmt_spread(c) == "155 (150–160)"
    assert speed.overlap(speed.spread([1, 2]), speed.spread([2, 3]))  # touching ranges overlap
    with pytest.raises(ValueError, match="at least one timing"):
        speed.spread([])


def _quickstart_result(kd_reasons, ce_reasons, kd_rates=(160, 150, 155, 158, 152), ce_rates=(165, 150, 170, 160, 158)):
    teacher = speed.spread([100, 98, 101, 99, 102])

    def student(kl, ppl, reasons, rates):
        return {"perplexity": ppl, "kl": kl, "top1_agreement": 0.099, "forward_speedup": 1.6,
                "forward_speed": speed.spread(list(rates)), "teacher_forward_speed": teacher,
                "collapse": {"collapsed": bool(reasons), "reasons": reasons}}

    return {"layers": "last-half", "steps": 30, "tokens_per_student": 15360, "seconds": 210, "loss": "forward_kl",
            "ce_weight": 0.5, "teacher_perplexity": 22.5, "start": {"perplexity": 50037, "kl": 7.93},
            "kd": student(3.948, 820.4, kd_reasons, kd_rates), "ce": student(4.114, 861.5, ce_reasons, ce_rates),
            "prompt": "The with statement is used to", "samples": {"teacher": " wrap", "kd": "\n" * 24, "ce": "\n" * 24}}


def test_quickstart_declares_no_winner_among_collapsed_students():
    res = _quickstart_result(['predicts "\\n" at 255/256 positions'], ['predicts "\\n" at 251/256 positions'])
    md = qs_markdown(res)
    assert "**Both students have collapsed** (KD student: predicts \"\\n\" at 255/256 positions; CE-only student: " \
           "predicts \"\\n\" at 251/256 positions). Neither is better" in md
    assert "lower KL" not in md and "wins" not in md and md.count(", **collapsed**") == 2
    # the students' timings overlap: one pooled figure for both, not 1.55× vs 1.60×
    assert speedups(res) == {"kd": "1.58× (both)", "ce": "1.58× (both)"}


def test_quickstart_names_the_one_collapsed_student_and_ranks_healthy_ones():
    one = _quickstart_result([], ["generates whitespace only"])
    assert verdict(one) == ("**The CE-only student has collapsed: generates whitespace only**; "
                            "only the KD student is a working model.")
    healthy = _quickstart_result([], [], ce_rates=(200, 210, 205, 208, 202))
    assert verdict(healthy) == ("Neither student has collapsed; lower KL(teacher ‖ student): KD student (3.95 vs 4.11); "
                                "lower held-out perplexity: KD student (820 vs 862).")
    assert speedups(healthy) == {"kd": "1.55×", "ce": "2.05×"}  # ranges apart: a difference can be shown
