import json

import numpy as np
import pytest

from distill.cli import main
from distill.detect.attribution import classify as C
from distill.detect.attribution import model as M
from distill.detect.attribution.collect import AttributionCollectConfig, collect, parse_source
from distill.detect.attribution.predict import AttributionPredictConfig, predict
from distill.detect.attribution.prompts import LANGUAGES, build_prompts, load_prompts
from distill.detect.attribution.train import AttributionTrainConfig, confusion_figure, train
from tests.detect.attribution import synthetic as S
from tests.plots import assert_readable


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_shipped_prompts_are_the_builders_output():
    shipped, built = load_prompts(), build_prompts()
    assert shipped == built and len(shipped) == 480
    assert len({p.id for p in shipped}) == 480 and len({p.text for p in shipped}) == 480
    by_group = {}
    for p in shipped:
        by_group.setdefault(p.group, set()).add(p.lang)
    assert len(by_group) == 120 and all(langs == set(LANGUAGES) for langs in by_group.values())


def test_prompt_limit_keeps_whole_groups_and_is_fixed(tmp_path):
    a, b = load_prompts(limit=10), load_prompts(limit=10)
    assert a == b and len({p.group for p in a}) == 10 and len(a) == 40
    assert len({p.group.split("-")[0] for p in a}) >= 3  # varied templates
    f = _write(tmp_path / "p.jsonl", [{"text": "Hi?"}, {"text": "Hola?", "lang": "es", "group": "g"}])
    own = load_prompts(f)
    assert [(p.id, p.group, p.lang) for p in own] == [("p1", "p1", "?"), ("p2", "g", "es")]
    with pytest.raises(ValueError, match="line 1"):
        load_prompts(_write(tmp_path / "bad.jsonl", [{"id": "x"}]))


def test_parse_source():
    assert parse_source("tiny=runs/m") == ("tiny", "runs/m")
    assert parse_source("smollm2") == ("smollm2", "smollm2")
    assert parse_source("http://h:8/v1?a=b") == ("http://h:8/v1?a=b", "http://h:8/v1?a=b")


def test_split_is_by_prompt_group(monkeypatch):
    """Every fold's test rows come from groups none of whose rows were trained on."""
    rows = S.rows(3, 1.0, groups=12)
    X = [f"{r['group']}|{r['answer']}" for r in rows]
    y, g = np.array([r["source"] for r in rows]), np.array([r["group"] for r in rows])
    seen = []

    class Spy:
        def fit(self, X, y):
            self.train_groups = {x.split("|")[0] for x in X}
            self.classes_ = np.array(sorted(set(y)))
            return self

        def predict_proba(self, X):
            test_groups = {x.split("|")[0] for x in X}
            seen.append((self.train_groups, test_groups))
            return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))

    monkeypatch.setattr(C, "make", lambda kind, seed=0: Spy())
    C.out_of_fold("tfidf", X, y, g, folds=4)
    assert len(seen) == 4
    assert all(not (tr & te) for tr, te in seen)
    assert set().union(*(te for _, te in seen)) == set(g)  # every group tested once


@pytest.mark.parametrize("style,lo,hi", [(1.0, 0.95, 1.0), (0.0, 0.0, 0.45)])
def test_tfidf_accuracy_follows_known_separability(style, lo, hi):
    """Distinct word choice: near-perfect; one shared distribution: chance (1/4) within sampling error."""
    rows = S.rows(4, style, groups=30)
    y, g = np.array([r["source"] for r in rows]), np.array([r["group"] for r in rows])
    proba, classes = C.out_of_fold("tfidf", [r["answer"] for r in rows], y, g, folds=5)
    acc = float((classes[proba.argmax(1)] == y).mean())
    assert lo <= acc <= hi, acc


def test_open_set_threshold_meets_its_target_and_no_more():
    classes = np.array(["a", "b"])
    # maxp of 10 rows: 8 correct (0.55 … 0.95), 2 wrong
    maxp = np.array([0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 0.95, 0.7, 0.99])
    y = np.array(["a"] * 8 + ["b", "b"])
    proba = np.stack([maxp, 1 - maxp], axis=1)  # every row predicts "a"
    # target 0.2 of 10 rows: may lose 2 correct rows → threshold = 3rd smallest correct maxp = 0.65
    assert C.open_set_threshold(proba, y, classes, 0.2) == pytest.approx(0.65)
    dec = C.decide(proba, classes, 0.65)
    assert list(dec[:8]) == [C.NONE, C.NONE] + ["a"] * 6
    assert C.open_set_threshold(proba, y, classes, 0.0) == pytest.approx(0.55)  # loses nothing
    assert C.open_set_threshold(proba, y, classes, 0.99) > 0.95  # may lose all: above every correct row


def _train_cfg(tmp_path, answers, **kw):
    return AttributionTrainConfig(answers=(str(answers),), out=str(tmp_path / "model"), folds=4, **kw)


@pytest.mark.slow
def test_train_predict_open_set_end_to_end(tmp_path):
    """Four sources with distinct styles, a fifth held out: accuracy, per language, the open-set rate, the saved
    classifiers reload through the allow-list and predict marks most held-out texts 'none of these'."""
    rows = S.rows(5, 1.0, groups=12, labels=["s0", "s1", "s2", "s3", "outsider"])
    answers = _write(tmp_path / "answers.jsonl", rows)
    res = train(_train_cfg(tmp_path, answers, held_out_sources=("outsider",), target_loss=0.05), embed=S.hashed_embed)
    for kind in ("tfidf", "embedding"):
        r = res["classifiers"][kind]
        assert r["accuracy"]["n"] == 12 * 2 * 4 and r["accuracy"]["rate"] >= 0.9
        assert set(r["per_language"]) == {"en", "fr"}
        o = r["open_set"]
        assert o["in_set_accuracy_with_rule"]["rate"] >= r["accuracy"]["rate"] - 0.05 - 1e-9
        assert o["held_out_forced"]["n"] == 24
        assert sum(o["held_out_forced_onto"].values()) == o["held_out_forced"]["k"]
        assert (tmp_path / "model" / f"confusion_{kind}.png").stat().st_size > 1000
    assert res["classifiers"]["tfidf"]["open_set"]["held_out_forced"]["rate"] <= 0.5
    est, card = M.load(tmp_path / "model", "tfidf")
    assert card.classes == ["s0", "s1", "s2", "s3"]
    texts = _write(tmp_path / "texts.jsonl", [{"text": r["answer"]} for src in ("s2", "outsider")
                                              for r in rows if r["source"] == src])
    p = predict(AttributionPredictConfig(file=str(texts), model=str(tmp_path / "model")))
    out = [json.loads(x) for x in open(p["predictions"])]
    assert len(out) == 48
    assert all(abs(sum(o["probabilities"].values()) - 1) < 1e-4 for o in out)
    assert all(o["none_of_these"] == (o["max_probability"] < card.threshold) for o in out)
    assert sum(o["source"] == "s2" for o in out[:24]) >= 20  # in-set texts: mostly right
    assert sum(o["none_of_these"] for o in out[24:]) >= 12  # held-out texts: mostly rejected
    pe = predict(AttributionPredictConfig(file=str(texts), model=str(tmp_path / "model"), classifier="embedding",
                                          out=str(tmp_path / "e.jsonl")), embed=S.hashed_embed)
    assert pe["texts"] == 48


def test_train_is_deterministic(tmp_path):
    answers = _write(tmp_path / "a.jsonl", S.rows(3, 0.5, groups=10))
    a = train(_train_cfg(tmp_path / "1", answers, classifiers=("tfidf",)))
    b = train(_train_cfg(tmp_path / "2", answers, classifiers=("tfidf",)))
    assert a["classifiers"] == b["classifiers"]


def test_load_refuses_types_outside_the_allow_list(tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import StandardScaler

    answers = _write(tmp_path / "a.jsonl", S.rows(2, 1.0, groups=6))
    train(_train_cfg(tmp_path, answers, classifiers=("tfidf",)))
    sio.dump(StandardScaler().fit(np.ones((3, 2))), tmp_path / "model" / "tfidf.skops")
    with pytest.raises(ValueError, match="StandardScaler"):
        M.load(tmp_path / "model", "tfidf")
    with pytest.raises(FileNotFoundError):
        M.load(tmp_path / "model", "embedding")


def test_collect_records_and_resumes(tmp_path):
    P = S.preferences(2, 1.0)
    fakes = {"a": S.StyleTeacher("a", P[0]), "b": S.StyleTeacher("b", P[1])}
    cfg = AttributionCollectConfig(sources=("a=fake-a", "b=fake-b"), out=str(tmp_path), groups=3, languages=("en", "de"))
    res = collect(cfg, teachers=fakes)
    assert res["answers"] == 2 * 6 and res["by_source_and_language"] == {"a": {"en": 3, "de": 3}, "b": {"en": 3, "de": 3}}
    assert fakes["a"].calls == 6
    again = collect(cfg, teachers=fakes)  # everything comes from calls.sqlite
    assert fakes["a"].calls == 6 and fakes["b"].calls == 6
    assert open(again["answers_file"]).read() == open(res["answers_file"]).read()


def test_cli_train_and_predict(tmp_path, capsys):
    answers = _write(tmp_path / "a.jsonl", S.rows(3, 1.0, groups=8))
    assert main(["detect", "attribution-train", str(answers), "--out", str(tmp_path / "m"), "--classifiers", "tfidf",
                 "--folds", "3"]) == 0
    assert "N-way accuracy" in capsys.readouterr().out
    assert main(["detect", "attribution-predict", str(answers), "--model", str(tmp_path / "m")]) == 0
    assert "texts (tfidf" in capsys.readouterr().out


def test_confusion_figure_is_readable():
    rep = {"classes": ["plain", "terse", "teacher", "formal-academic"], "confusion": [[9, 1, 0, 0], [0, 10, 0, 0],
                                                                                    [2, 0, 8, 0], [0, 0, 1, 9]]}
    fig = confusion_figure(rep, "tfidf: 90.0% of 40 answers, out of fold by prompt")
    assert_readable(fig)


def test_answers_and_texts_with_unicode_line_separators_are_one_row_each(tmp_path):
    from distill.detect.attribution.predict import read_texts
    from distill.detect.attribution.train import read_answers

    odd = "a\u2028b\x85c\u2029d\x1ce"  # str.splitlines() breaks on each of these; JSONL (ensure_ascii=False) keeps them raw
    rows = [{"source": "s", "prompt_id": f"p{i}", "answer": f"{odd} {i}"} for i in range(3)]
    f = tmp_path / "answers.jsonl"
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    got = read_answers([f])
    assert [r["answer"] for r in got] == [f"{odd} {i}" for i in range(3)]
    assert read_texts(f) == [f"{odd} {i}" for i in range(3)]
    p = tmp_path / "prompts.jsonl"
    p.write_text(json.dumps({"id": "x", "text": odd}, ensure_ascii=False) + "\n", "utf-8")
    assert [q.text for q in load_prompts(p)] == [odd]
