import os

import pytest

from assistant import loading

from assistant.errors import CorpusError
from assistant.loading import load_corpus, load_document


def _pdf_with_lines(lines: list[str]) -> bytes:
    """A minimal, valid one-page PDF with one text line per entry (built by hand: no PDF writer
    package is needed to test the reader)."""
    text_ops = " ".join(f"({l}) Tj T*" for l in lines)
    stream = f"BT /F1 12 Tf 14 TL 72 720 Td {text_ops} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_text_bullets_keep_their_depth_and_text(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Title line\n\n  • Top item:\n    • Nested detail here.\n", encoding="utf-8")
    doc = load_document(path, "a.txt", {"title": "Aftercare", "origin": "clinic"})
    assert doc.title == "Aftercare" and doc.origin == "clinic"
    assert [(l.number, l.text, l.bullet_depth) for l in doc.lines] == [
        (1, "Title line", None), (3, "Top item:", 0), (4, "Nested detail here.", 1)]
    assert not doc.explicit_structure


def test_markdown_headings_and_links(tmp_path):
    path = tmp_path / "b.md"
    path.write_text("# Aftercare\n\n## Day one\nKeep the skin **clean** and see [our page](http://x).\n- Avoid sun\n")
    doc = load_document(path, "b.md", {})
    assert doc.title == "Aftercare"
    assert [(l.text, l.heading_level, l.bullet_depth) for l in doc.lines] == [
        ("Aftercare", 1, None), ("Day one", 2, None),
        ("Keep the skin clean and see our page.", None, None), ("Avoid sun", None, 0)]


def test_html_blocks_without_scripts(tmp_path):
    path = tmp_path / "c.html"
    path.write_text("<html><script>alert(1)</script><h1>Price list</h1><p>A session is <b>one</b> hour.</p>"
                    "<ul><li>Item one</li><li>Item two</li></ul><div><p>Nested para.</p></div></html>")
    doc = load_document(path, "c.html", {})
    assert [(l.text, l.heading_level, l.bullet_depth) for l in doc.lines] == [
        ("Price list", 1, None), ("A session is one hour.", None, None),
        ("Item one", None, 0), ("Item two", None, 0), ("Nested para.", None, None)]
    assert all("alert" not in l.text for l in doc.lines)


def test_pdf_text_is_extracted_and_wrapped_lines_rejoined(tmp_path):
    path = tmp_path / "d.pdf"
    path.write_bytes(_pdf_with_lines(["Aftercare sheet", "Keep your skin clean and avoid", "the sun for a week."]))
    doc = load_document(path, "d.pdf", {})
    assert [l.text for l in doc.lines] == ["Aftercare sheet", "Keep your skin clean and avoid the sun for a week."]


def test_unreadable_files_are_skipped_with_reasons_and_the_rest_loads(tmp_path, caplog):
    (tmp_path / "good.txt").write_text("Microneedling stimulates collagen production over time.")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "empty.md").write_text("  \n")
    (tmp_path / "sheet.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "huge.md").write_bytes(b"a" * (loading.MAX_FILE_BYTES + 1))
    locked = tmp_path / "locked.txt"
    locked.write_text("Microneedling aftercare.")
    locked.chmod(0)
    result = load_corpus(tmp_path)
    assert [d.source for d in result.documents] == ["good.txt"] + (["locked.txt"] if os.geteuid() == 0 else [])
    reasons = dict(result.skipped)
    assert set(reasons) >= {"latin1.txt", "empty.md", "sheet.docx", "broken.pdf", "image.txt", "huge.md"}
    assert "binary data in a .txt file" in reasons["image.txt"] and "too large" in reasons["huge.md"]
    if os.geteuid() != 0:  # root reads any file; elsewhere the unreadable one is skipped
        assert "cannot be read" in reasons["locked.txt"]
    assert "UTF-8" in reasons["latin1.txt"] and "empty" in reasons["empty.md"]
    assert "unsupported file type .docx" in reasons["sheet.docx"]
    assert "PDF" in reasons["broken.pdf"]
    assert "skipped latin1.txt" in caplog.text


def test_missing_corpus_folder_says_what_to_do(tmp_path):
    with pytest.raises(CorpusError, match="does not exist: create it"):
        load_corpus(tmp_path / "nope")


def test_bad_metadata_file_is_reported(tmp_path):
    (tmp_path / "sources.toml").write_text("[unclosed")
    with pytest.raises(CorpusError, match="not valid TOML"):
        load_corpus(tmp_path)


def test_seed_metadata_titles_are_used(corpus_copy):
    titles = {d.source: d.title for d in load_corpus(corpus_copy).documents}
    assert titles["does-microneedling-last-permanently.txt"] == "Does Microneedling Provide Permanent Skin Improvements?"
