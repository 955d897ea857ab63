import json

import pytest

from distill.lm.corpus import iter_documents, pack_windows
from tests.lm.tiny import TEXT, make_tokenizer

pytest.importorskip("transformers")


def test_text_jsonl_and_folders_are_read_in_order(tmp_path):
    (tmp_path / "b.md").write_text("second")
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "c.jsonl").write_text(json.dumps({"text": "third"}) + "\n\n" + json.dumps({"text": "fourth"}) + "\n")
    (tmp_path / "skip.bin").write_bytes(b"\x00\x01")
    assert list(iter_documents(tmp_path)) == ["first", "second", "third", "fourth"]


def test_windows_are_packed_with_eos_between_documents(tmp_path):
    tok = make_tokenizer(TEXT)
    f = tmp_path / "c.txt"
    f.write_text("\n\n".join(TEXT))
    w = pack_windows(f, tok, 8)
    ids = tok(f.read_text(), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert w.shape == (len(ids) // 8, 8) and w.flatten().tolist() == ids[: w.numel()]
    assert pack_windows(f, tok, 8, max_windows=3).shape == (3, 8)


def test_datasets_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"text": ["alpha beta", "", "gamma"]}).save_to_disk(str(tmp_path / "ds"))
    assert list(iter_documents(tmp_path / "ds")) == ["alpha beta", "gamma"]
    datasets.Dataset.from_dict({"body": ["x"]}).save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(ValueError, match="no 'text' column"):
        list(iter_documents(tmp_path / "bad"))


def test_missing_corpus(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(iter_documents(tmp_path / "nope"))
