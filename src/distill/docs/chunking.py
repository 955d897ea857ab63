"""Documents → sections → chunks.

A document is parsed into sections (a heading path and its text); each section is cut into chunks
at paragraph boundaries, aiming at ``target`` characters and never exceeding ``maximum`` (a paragraph
longer than that is cut at sentence ends, and a sentence longer than that at ``maximum``). Chunks
never cross a section boundary, so each one keeps the headings it sits under: the generator shows
them to the teacher, and coverage is reported per section.

A chunk's id is a hash of its text alone, so it stays the same when files move or are re-ingested,
and the same text in two files is one chunk.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from html.parser import HTMLParser


@dataclass(frozen=True)
class Section:
    titles: tuple[str, ...]  # heading path, outermost first
    text: str


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str
    titles: tuple[str, ...]
    text: str

    def to_json(self) -> dict:
        return {"id": self.id, "source": self.source, "section": " > ".join(self.titles),
                "titles": list(self.titles), "text": self.text, "chars": len(self.text)}

    @classmethod
    def from_json(cls, d: dict) -> Chunk:
        """A chunk from its `to_json` record.

        Args:
            d: the record (``id``, ``source``, ``text`` and optionally ``titles``).

        Returns:
            The `Chunk`.
        """
        return cls(d["id"], d["source"], tuple(d.get("titles", [])), d["text"])


def chunk_id(text: str) -> str:
    """A stable id of a chunk's text: its first 16 SHA-256 hex digits, surrounding whitespace ignored.

    Args:
        text: the chunk's text.

    Returns:
        The id.
    """
    return hashlib.sha256(text.strip().encode()).hexdigest()[:16]


# --- parsers: text of one file → sections ------------------------------------------------------

_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# reST adornment: a line of one repeated punctuation character (also Python's rendered pydoc topics).
_ADORN = re.compile(r"^([=\-~^\"'`#*+<>:._])\1{2,}\s*$")


def _sections_from_levels(items: list[tuple[int | None, str]], title: str) -> list[Section]:
    """items: (level, heading) for headings, (None, line) for text lines → sections with heading paths."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buf: list[str] = []

    def flush():
        text = "\n".join(buf).strip()
        if text:
            titles = tuple(t for _, t in path) or ((title,) if title else ())
            sections.append(Section(titles, text))
        buf.clear()

    for level, line in items:
        if level is None:
            buf.append(line)
            continue
        flush()
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, line.strip()))
    flush()
    return sections


def parse_markdown(text: str, title: str = "") -> list[Section]:
    """The sections of a Markdown document (ATX and underlined headings; fenced code kept as text).

    Args:
        text: the document.
        title: the outermost heading path entry (e.g. the file's title; '' for none).

    Returns:
        The sections, in document order.
    """
    items: list[tuple[int | None, str]] = []
    lines = text.splitlines()
    in_code = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            in_code = not in_code
            items.append((None, line))
        elif not in_code and (m := _ATX.match(line)):
            items.append((len(m.group(1)), m.group(2)))
        elif (not in_code and line.strip() and i + 1 < len(lines)
              and re.fullmatch(r"(=+|-+)\s*", lines[i + 1]) and not line.startswith((" ", "\t", "-", "*"))):
            items.append((1 if lines[i + 1].startswith("=") else 2, line))  # setext heading
            i += 1
        else:
            items.append((None, line))
        i += 1
    return _sections_from_levels(items, title)


def parse_rst(text: str, title: str = "") -> list[Section]:
    """reStructuredText (and text rendered from it): a heading is a line underlined (optionally also
    overlined) by one punctuation character at least as long as the title; levels follow the order in
    which adornment styles first appear, as in docutils.

    Args:
        text: the document.
        title: the outermost heading path entry ('' for none).

    Returns:
        The sections, in document order.
    """
    items: list[tuple[int | None, str]] = []
    styles: list[tuple[str, bool]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        over = False
        heading = None
        if (_ADORN.match(line) and i + 2 < len(lines) and lines[i + 1].strip()
                and _ADORN.match(lines[i + 2]) and lines[i + 2].strip()[0] == line.strip()[0]):
            heading, char, over, skip = lines[i + 1].strip(), line.strip()[0], True, 3
        elif (line.strip() and not line[0].isspace() and _ADORN.match(nxt)
              and len(nxt.strip()) >= len(line.strip()) and not _ADORN.match(line)):
            heading, char, skip = line.strip(), nxt.strip()[0], 2
        if heading is not None:
            style = (char, over)
            if style not in styles:
                styles.append(style)
            items.append((styles.index(style) + 1, heading))
            i += skip
            continue
        items.append((None, line))
        i += 1
    return _sections_from_levels(items, title)


class _HTMLSections(HTMLParser):
    SKIP = {"script", "style", "nav", "header", "footer", "noscript", "svg", "form"}
    BLOCK = {"p", "div", "li", "pre", "tr", "br", "dt", "dd", "blockquote", "section", "article", "table", "ul", "ol"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.items: list[tuple[int | None, str]] = []
        self.skip_depth = 0
        self.heading: int | None = None
        self.buf: list[str] = []
        self.pre = 0

    def _emit(self):
        text = "".join(self.buf)
        self.buf.clear()
        if self.heading is not None:
            if text.strip():
                self.items.append((self.heading, " ".join(text.split())))
            return
        lines = text.split("\n") if self.pre else [" ".join(text.split())]
        for ln in lines:
            self.items.append((None, ln))
        self.items.append((None, ""))

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip_depth += 1
        elif self.skip_depth:
            return
        elif re.fullmatch(r"h[1-6]", tag):
            self._emit()
            self.heading = int(tag[1])
        elif tag in self.BLOCK:
            self._emit()
            self.pre += tag == "pre"

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif self.skip_depth:
            return
        elif re.fullmatch(r"h[1-6]", tag) and self.heading is not None:
            self._emit()
            self.heading = None
        elif tag in self.BLOCK:
            self._emit()
            self.pre -= tag == "pre" and self.pre > 0

    def handle_data(self, data):
        if not self.skip_depth:
            self.buf.append(data)


def parse_html(text: str, title: str = "") -> list[Section]:
    """The sections of an HTML page, split at its ``<h1>``–``<h6>`` headings.

    Args:
        text: the page's HTML.
        title: the outermost heading path entry ('' for none).

    Returns:
        The sections, in document order.
    """
    p = _HTMLSections()
    p.feed(text)
    p.close()
    p._emit()
    # Headings text ends with a pilcrow (¶) in Sphinx output: drop it.
    items = [(lvl, s.rstrip("¶").strip() if lvl else s) for lvl, s in p.items]
    return _sections_from_levels(items, title)


def parse_text(text: str, title: str = "") -> list[Section]:
    """The sections of plain text (parsed as reST: underlined headings are common in plain text).

    Args:
        text: the document.
        title: the outermost heading path entry ('' for none).

    Returns:
        The sections, in document order.
    """
    return parse_rst(text, title)


PARSERS = {".md": parse_markdown, ".markdown": parse_markdown, ".rst": parse_rst, ".rst.txt": parse_rst,
           ".txt": parse_text, ".text": parse_text, ".html": parse_html, ".htm": parse_html}


def parser_for(name: str):
    """The parser for a file name, by its extension (the longest matching one).

    Args:
        name: the file name or path.

    Returns:
        One of ``PARSERS``' functions, or None for an unknown extension.
    """
    low = name.lower()
    for ext in sorted(PARSERS, key=len, reverse=True):  # ".rst.txt" before ".txt"
        if low.endswith(ext):
            return PARSERS[ext]
    return None


# --- sections → chunks --------------------------------------------------------------------------

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'`*])")


def _pieces(paragraph: str, maximum: int) -> list[str]:
    if len(paragraph) <= maximum:
        return [paragraph]
    out, cur = [], ""
    for sent in _SENT.split(paragraph):
        while len(sent) > maximum:  # one huge "sentence" (a table, a code block): cut it
            if cur:
                out.append(cur)
                cur = ""
            out.append(sent[:maximum])
            sent = sent[maximum:]
        if cur and len(cur) + 1 + len(sent) > maximum:
            out.append(cur)
            cur = sent
        else:
            cur = f"{cur} {sent}" if cur else sent
    if cur:
        out.append(cur)
    return out


def chunk_sections(sections: list[Section], source: str, *, target: int, maximum: int,
                   minimum: int = 0) -> list[Chunk]:
    """Pack each section's paragraphs into chunks of about ``target`` and at most ``maximum`` characters.

    A section shorter than ``minimum`` is joined to the next one of the same file (its heading path is
    kept from the first) so that one-line sections do not become questions of their own.

    Args:
        sections: the parsed sections of one file.
        source: the file they come from (recorded in each chunk).
        target: the chunk size aimed at, in characters.
        maximum: the largest chunk, in characters (longer paragraphs are cut at sentences).
        minimum: sections shorter than this are joined to the next one.

    Returns:
        The chunks, in document order.
    """
    merged: list[Section] = []
    for s in sections:
        if merged and len(merged[-1].text) < minimum and len(merged[-1].text) + len(s.text) <= maximum:
            prev = merged.pop()
            s = Section(prev.titles, prev.text + "\n\n" + (s.titles[-1] + "\n" if s.titles else "") + s.text)
        merged.append(s)
    chunks: list[Chunk] = []
    for s in merged:
        paras = [p.strip("\n") for p in re.split(r"\n\s*\n", s.text) if p.strip()]
        cur = ""
        for para in paras:
            for piece in _pieces(para, maximum):
                if cur and len(cur) + 2 + len(piece) > maximum:
                    chunks.append(Chunk(chunk_id(cur), source, s.titles, cur))
                    cur = piece
                elif cur and len(cur) >= target:
                    chunks.append(Chunk(chunk_id(cur), source, s.titles, cur))
                    cur = piece
                else:
                    cur = f"{cur}\n\n{piece}" if cur else piece
        if cur.strip():
            chunks.append(Chunk(chunk_id(cur), source, s.titles, cur))
    return chunks
