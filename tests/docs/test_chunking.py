from distill.docs.chunking import (
    Section,
    chunk_id,
    chunk_sections,
    parse_html,
    parse_markdown,
    parse_rst,
    parser_for,
)


def test_markdown_heading_paths_and_code_fences():
    text = "# Guide\nintro\n\n## Auth\nUse a token.\n```\n# not a heading\n```\n### Expiry\nTokens expire.\n## Limits\n100/s\n"
    secs = parse_markdown(text)
    assert [s.titles for s in secs] == [("Guide",), ("Guide", "Auth"), ("Guide", "Auth", "Expiry"), ("Guide", "Limits")]
    assert "# not a heading" in secs[1].text  # inside a fence: text, not a heading


def test_markdown_setext_headings():
    secs = parse_markdown("Title\n=====\n\nbody\n\nSub\n---\n\nmore\n")
    assert [s.titles for s in secs] == [("Title",), ("Title", "Sub")]


def test_rst_levels_follow_first_appearance_of_adornment():
    text = "=====\nTop\n=====\n\nintro\n\nFirst\n-----\n\na\n\nDeep\n~~~~\n\nb\n\nSecond\n------\n\nc\n"
    secs = parse_rst(text)
    assert [s.titles for s in secs] == [("Top",), ("Top", "First"), ("Top", "First", "Deep"), ("Top", "Second")]
    assert [s.text for s in secs] == ["intro", "a", "b", "c"]


def test_html_headings_skip_scripts_and_pilcrows():
    html = ("<html><head><style>x{}</style><script>var a=1;</script></head><body><nav>menu</nav>"
            "<h1>API¶</h1><p>Call <code>get()</code> &amp; wait.</p><h2>Errors</h2><ul><li>401: bad key</li></ul>"
            "</body></html>")
    secs = parse_html(html)
    assert [s.titles for s in secs] == [("API",), ("API", "Errors")]
    assert secs[0].text == "Call get() & wait."
    assert "menu" not in "".join(s.text for s in secs) and "var a" not in "".join(s.text for s in secs)


def test_parser_for_prefers_longest_suffix():
    assert parser_for("a/b.rst.txt") is parse_rst
    assert parser_for("x.MD") is parse_markdown
    assert parser_for("x.png") is None


def test_chunks_respect_maximum_and_target_and_keep_titles():
    para = "This is one sentence about tokens. " * 10  # ~350 chars
    sec = Section(("Guide", "Auth"), "\n\n".join([para.strip()] * 6))
    chunks = chunk_sections([sec], "guide.md", target=600, maximum=800)
    assert all(len(c.text) <= 800 for c in chunks)
    assert len(chunks) == 3  # two paragraphs (~700 chars) per chunk: the target is passed after the second
    assert all(c.titles == ("Guide", "Auth") and c.source == "guide.md" for c in chunks)


def test_huge_paragraph_is_cut_at_sentences_then_hard():
    sent = "Word " * 50 + "end."
    big = " ".join([sent] * 10) + " " + "x" * 1000
    chunks = chunk_sections([Section(("T",), big)], "s", target=300, maximum=400)
    assert all(len(c.text) <= 400 for c in chunks)
    assert "".join(c.text.replace(" ", "").replace("\n", "") for c in chunks) == big.replace(" ", "")


def test_small_sections_are_joined_and_ids_are_content_hashes():
    secs = [Section(("A",), "tiny"), Section(("B",), "a longer section body " * 20)]
    chunks = chunk_sections(secs, "s", target=1000, maximum=2000, minimum=50)
    assert len(chunks) == 1 and chunks[0].titles == ("A",) and "B\n" in chunks[0].text
    assert chunks[0].id == chunk_id(chunks[0].text)
    assert chunk_id("same text") == chunk_id("  same text\n") != chunk_id("other")
