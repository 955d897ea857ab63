import json

import pytest

from distill.cli import main, with_default_subcommand
from distill.docs.export import assistant_text
from distill.review.export import ExportConfig, export, run
from distill.review.run import ReviewConfig, prepare
from tests.docs.test_generate import _cfg, workdir  # noqa: F401, F811 (workdir: a fixture)
from tests.review.data import XSS, make_dataset


def read(folder, split):
    p = folder / f"{split}.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()]


@pytest.fixture
def reviewed(tmp_path):
    ds_path = make_dataset(tmp_path)
    ds, store, order = prepare(ReviewConfig(dataset=str(ds_path)))
    by = {it["answer"]: it for it in ds.items}
    store.decide(by["Keys expire after 90 days."]["id"], "edited", 0,
                 {"question": "When do keys expire?", "answer": "After 90 days."})
    store.decide(by["Each key may make 100 requests per second."]["id"], "approved", 0)
    store.decide(by[XSS[0]]["id"], "rejected", 0)
    store.decide(by[XSS[1]]["id"], "rejected", 0)
    store.close()
    return ds_path, by


def test_export_keeps_approved_and_edited_items_with_rebuilt_messages(reviewed, tmp_path):
    ds_path, by = reviewed
    summary = run(ExportConfig(dataset=str(ds_path)))
    out = tmp_path / "dataset-reviewed"
    assert summary["out"] == str(out)
    train, evals = read(out, "train"), read(out, "eval")
    assert evals == []
    assert [r["review"] for r in train] == ["edited", "approved"]
    edited = train[0]
    orig = by["Keys expire after 90 days."]
    assert edited["question"] == "When do keys expire?" and edited["answer"] == "After 90 days."
    assert edited["reasoning"] == orig["reasoning"] == "The docs state a lifetime."
    assert edited["messages"] == [orig["messages"][0], {"role": "user", "content": "When do keys expire?"},
                                  {"role": "assistant", "content": assistant_text(edited)}]
    assert edited["messages"][2]["content"].endswith("Answer: After 90 days.")
    assert edited["original_id"] == orig["id"] != edited["id"]  # the id follows the question, as the format says
    assert train[1] == by["Each key may make 100 requests per second."] | {"review": "approved"}
    assert [json.loads(x)["id"] for x in (out / "chunks.jsonl").read_text().splitlines()] == ["c1", "c2"]
    card = json.loads((out / "dataset.json").read_text())
    assert card["items"] == 2 and card["train"] == 2 and card["product"] == "Acme API"
    s = json.loads((out / "review.json").read_text())
    assert s["status"] == {"approved": 1, "edited": 1, "rejected": 2, "pending": 3}
    assert s["rejected_ids"] == sorted([by[XSS[0]]["id"], by[XSS[1]]["id"]])
    assert s["by_section"]["Upload"] == {"rejected": 2, "pending": 1}
    assert "| rejected | 2 |" in (out / "review.md").read_text()
    assert (out / "README.md").read_text().startswith("# Documentation Q&A data set: Acme API")


def test_keep_pending_keeps_everything_not_rejected(reviewed, tmp_path):
    ds_path, by = reviewed
    run(ExportConfig(dataset=str(ds_path), out=str(tmp_path / "o"), keep_pending=True))
    kept = read(tmp_path / "o", "train") + read(tmp_path / "o", "eval")
    assert len(kept) == 5 and not any(r["answer"] in XSS for r in kept)


def test_export_refuses_an_unreviewed_folder_and_writing_over_the_data_set(tmp_path):
    ds_path = make_dataset(tmp_path)
    with pytest.raises(FileNotFoundError, match="review the data set first"):
        run(ExportConfig(dataset=str(ds_path)))
    with pytest.raises(ValueError, match="out must be a folder other than the data set"):
        ExportConfig(dataset=str(ds_path), out=str(ds_path))


def test_review_of_a_generated_data_set_round_trips(workdir, tmp_path):  # noqa: F811
    """A data set written by `distill docs generate` (scripted teacher) reads, reviews and exports."""
    from distill.docs.generate import generate
    from tests.docs.fakes import ScriptedTeacher

    generate(_cfg(workdir), teacher=ScriptedTeacher())
    ds, store, order = prepare(ReviewConfig(dataset=str(workdir / "dataset")))
    assert len(order) == len(ds.items) >= 4
    grounded = [it for it in ds.items if it["kind"] == "grounded"]
    from distill.review.dataset import support_parts

    for it in grounded:  # every grounded item has a highlightable span that contains its answer
        assert it["answer"] in support_parts(ds.chunks[it["chunk_id"]]["text"], it["support"])[1]
    for it in ds.items:
        store.decide(it["id"], "approved", 0)
    summary = export(ds, store, tmp_path / "out")
    again = read(tmp_path / "out", "train") + read(tmp_path / "out", "eval")
    assert summary["status"]["approved"] == len(ds.items)
    assert [{k: v for k, v in r.items() if k != "review"} for r in again] == ds.items


def test_cli_review_dataset_is_review_serve(tmp_path, capsys):
    assert with_default_subcommand(["review", "data/ds", "--port", "0"]) == ["review", "serve", "data/ds", "--port", "0"]
    assert with_default_subcommand(["review", "--sample", "0.05", "d"])[:2] == ["review", "serve"]
    assert with_default_subcommand(["review", "export", "d"]) == ["review", "export", "d"]
    assert with_default_subcommand(["review", "--help"]) == ["review", "--help"]
    assert with_default_subcommand(["docs", "x"]) == ["docs", "x"]
    # no token on an address other machines reach: refused before anything is read or served
    assert main(["review", str(tmp_path), "--host", "0.0.0.0", "--no-token"]) == 2
    assert "token must be on" in capsys.readouterr().err
    assert main(["review", "export", str(tmp_path / "nothing")]) == 2
