import json

import pytest

from distill.docs.ingest import IngestConfig, ingest, load_chunks


def _tree(root):
    (root / "sub").mkdir(parents=True)
    (root / "guide.md").write_text("# Guide\n\nKeys expire after 90 days.\n\n## Limits\n\n100 requests per second.\n")
    (root / "sub" / "api.rst").write_text("API\n===\n\nCall get() to fetch.\n")
    (root / "sub" / "page.html").write_text("<h1>Upload</h1><p>Files up to 50 MB.</p>")
    (root / "README").write_text("Read me first: the project distills models.\n")
    (root / "copy.md").write_text("# Guide\n\nKeys expire after 90 days.\n")  # same text as a guide.md chunk
    (root / "empty.md").write_text("   \n")
    (root / "zero.txt").write_bytes(b"")
    (root / "bin.txt").write_bytes(b"\x00\x01\x02" * 10)
    (root / "latin1.txt").write_bytes("café".encode("latin-1"))
    (root / "image.png").write_bytes(b"\x89PNG....")
    (root / "huge.md").write_text("x" * 3000)


def test_ingest_reads_formats_and_names_every_skipped_file(tmp_path):
    _tree(tmp_path / "docs")
    rep = ingest(IngestConfig(source=str(tmp_path / "docs"), out=str(tmp_path / "w"), min_section_chars=0,
                              max_file_mb=0.002))
    reasons = {s["path"]: s["reason"] for s in rep["skipped"]}
    assert reasons["empty.md"] == "empty file" and reasons["zero.txt"] == "empty file"
    assert reasons["bin.txt"] == "binary content"
    assert reasons["latin1.txt"].startswith("not UTF-8")
    assert reasons["image.png"] == "unsupported type '.png'"
    assert reasons["huge.md"].startswith("larger than the limit")
    assert rep["files_read"] == 5 and rep["duplicate_chunks_dropped"] == 1
    chunks = load_chunks(tmp_path / "w")
    by_section = {c.to_json()["section"]: c for c in chunks}
    assert set(by_section) == {"Guide", "Guide > Limits", "API", "Upload", "README"}
    assert by_section["Guide"].source == "copy.md" or by_section["Guide"].source == "guide.md"
    assert by_section["Upload"].text == "Files up to 50 MB." and by_section["API"].source == "sub/api.rst"
    assert json.loads((tmp_path / "w" / "ingest.json").read_text())["chunks"] == len(chunks) == 5


def test_ingest_is_stable_across_runs(tmp_path):
    _tree(tmp_path / "docs")
    ingest(IngestConfig(source=str(tmp_path / "docs"), out=str(tmp_path / "a")))
    ingest(IngestConfig(source=str(tmp_path / "docs"), out=str(tmp_path / "b")))
    assert (tmp_path / "a" / "chunks.jsonl").read_text() == (tmp_path / "b" / "chunks.jsonl").read_text()


def test_pdf_is_read_when_pypdf_is_installed(tmp_path):
    pytest.importorskip("pypdf")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["pdf.fonttype"] = 42
    fig = plt.figure()
    fig.text(0.1, 0.5, "Keys expire after 90 days.")
    (tmp_path / "d").mkdir()
    fig.savefig(tmp_path / "d" / "manual.pdf")
    plt.close(fig)
    rep = ingest(IngestConfig(source=str(tmp_path / "d"), out=str(tmp_path / "w")))
    assert rep["files_read"] == 1 and "Keys expire after 90 days." in load_chunks(tmp_path / "w")[0].text


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ingest(IngestConfig(source=str(tmp_path / "nowhere"), out=str(tmp_path / "w")))
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "x.png").write_bytes(b"png")
    with pytest.raises(ValueError, match="no text found.*unsupported type"):
        ingest(IngestConfig(source=str(tmp_path / "only"), out=str(tmp_path / "w")))
    with pytest.raises(ValueError, match="target_chars"):
        IngestConfig(source="x", target_chars=5000, max_chars=100)
    with pytest.raises(FileNotFoundError, match="distill docs ingest"):
        load_chunks(tmp_path / "none")


def test_a_file_name_that_is_not_utf8_is_skipped_with_the_reason(tmp_path):
    """Issue 14 item 10: one such name made the whole ingest fail (UnicodeEncodeError writing the report)."""
    import os

    src = tmp_path / "docs"
    src.mkdir()
    (src / "guide.md").write_text("# Guide\n\n" + "Distillation trains a small student from a teacher. " * 10)
    with open(os.path.join(os.fsencode(src), b"caf\xe9.md"), "wb") as f:
        f.write(b"# Cafe\n\n" + b"Some text about coffee. " * 10)
    report = ingest(IngestConfig(source=str(src), out=str(tmp_path / "out")))
    assert report["files_seen"] == 2 and report["files_read"] == 1
    assert report["skipped"] == [{"path": "caf\\xe9.md", "reason": "file name is not UTF-8 (rename the file)"}]
    saved = json.loads((tmp_path / "out" / "ingest.json").read_text())
    assert saved["skipped"] == report["skipped"]
    assert [c.source for c in load_chunks(tmp_path / "out")] == ["guide.md"]
