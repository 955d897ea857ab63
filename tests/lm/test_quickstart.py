import json

import pytest

from distill.cli import main
from distill.lm.quickstart import pydoc_corpus

pytest.importorskip("transformers")


def test_pydoc_corpus_splits_by_topic(tmp_path):
    from pydoc_data.topics import topics

    train, held = pydoc_corpus(tmp_path)
    n = len(topics)
    assert held.read_text().count("\n\n") >= 0 and len(held.read_text()) > 1000
    assert len(train.read_text()) + len(held.read_text()) + 2 * (n - 2) >= sum(len(t) for t in topics.values())
    first_held = topics[sorted(topics)[9]]
    assert first_held in held.read_text() and first_held not in train.read_text()


@pytest.mark.slow
def test_quickstart_on_a_tiny_teacher(tiny_teacher, tmp_path, capsys):
    assert main(["lm", "quickstart", "--teacher", str(tiny_teacher), "--steps", "6", "--window", "32",
                 "--eval-windows", "4", "--lr", "1e-3", "--out", str(tmp_path / "q"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["kd"]["kl"] < res["start"]["kl"]  # distillation moved the student toward the teacher
    assert res["kd"]["kl"] < res["ce"]["kl"]  # and more than cross-entropy on the same text did
    assert set(res["samples"]) == {"teacher", "kd", "ce"}
    assert res["ce_weight"] == 0.5 and res["loss"] == "forward_kl"  # the KD student also learns from the text
    for name in ("kd", "ce"):  # the detector's numbers and the repeated timings reach the results JSON
        c = res[name]["collapse"]
        assert 0 < c["dominant_share"] <= 1 and c["positions"] == 4 * 31 and isinstance(c["reasons"], list)
        assert res[name]["forward_speed"]["repeats"] == 5
    from distill.lm.quickstart import markdown, verdict

    assert verdict(res).split(";")[0] in markdown(res)  # a plain verdict on the students, collapsed or not


def test_quickstart_ce_weight_must_leave_room_for_the_teacher():
    from distill.lm.quickstart import QuickstartConfig

    with pytest.raises(ValueError, match=r"ce_weight must be in \[0, 1\).*got 1\.0"):
        QuickstartConfig(ce_weight=1.0)
