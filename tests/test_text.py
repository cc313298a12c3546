from assistant.text import jaccard, split_sentences, stem, strip_markup, content_words


def test_sentences_are_verbatim_pieces_of_the_paragraph():
    text = 'Redness is normal.  It fades in days! Dr. Lee says “rest.” Then (rarely) more? 3 sessions.'
    pieces = split_sentences(text)
    assert pieces == ["Redness is normal.", "It fades in days!", "Dr. Lee says “rest.”",
                      "Then (rarely) more?", "3 sessions."]
    assert all(p in text for p in pieces)


def test_no_split_inside_abbreviations_or_lowercase_continuations():
    assert split_sentences("Use gentle products, e.g. a mild cleanser. Avoid sun.") == [
        "Use gentle products, e.g. a mild cleanser.", "Avoid sun."]
    assert split_sentences("Version 2.5 works. ok then") == ["Version 2.5 works. ok then"]


def test_stem_matches_word_forms():
    assert stem("scars") == stem("scar") == stem("scarring")
    assert stem("treatments") == stem("treatment")
    assert stem("permanent") == "permanent"


def test_jaccard_and_content_words():
    assert jaccard("a b c", "a b c") == 1.0
    assert jaccard("red skin", "blue sky") == 0.0
    assert content_words("How long do the results last?") == ["long", "results", "last"]


def test_strip_markup_keeps_words_outside_tags():
    assert strip_markup("Is it <b>permanent</b>?").split() == ["Is", "it", "permanent", "?"]
    assert strip_markup("Why? <script>alert(1)</script><STYLE>p{}</style> ok").split() == ["Why?", "ok"]
