"""The benchmark's own parts: the generated corpus, the report, and the tutorial baseline."""

import pytest

from assistant.ingest.chunking import chunk_document
from assistant.ingest.cleaning import clean_document
from assistant.ingest.loading import load_corpus
from evals.bench import markdown
from evals.synthetic import write_corpus


def test_generated_corpus_is_deterministic_and_about_the_size_asked(tmp_path):
    assert write_corpus(tmp_path / "a", 50) == 10
    write_corpus(tmp_path / "b", 50)
    a = sorted(p.read_text() for p in (tmp_path / "a").iterdir())
    assert a == sorted(p.read_text() for p in (tmp_path / "b").iterdir())
    chunks = [c for d in load_corpus(tmp_path / "a").documents
              for c in chunk_document(clean_document(d), 900)]
    assert 35 <= len(chunks) <= 50
    # Every chunk sits under its numbered heading, but the first of each file: in plain text,
    # lines above the first paragraph are page header (see README, Limits).
    assert sum("(" not in c.section for c in chunks) == 10


def test_report_shows_every_section():
    stats = {"median_ms": 10.0, "p95_ms": 20.0}
    result = {
        "date": "2026-11-22", "machine": "x86_64, 2 cores",
        "latency": {"ask": stats, "lookup": stats, "embed": {"median_ms": 5.0, "p95_ms": 6.0},
                    "relevance": {"median_ms": 2.5, "p95_ms": 4.0}, "samples": 3, "ask_ratio": 2.0, "lookup_ratio": 2.0},
        "ingest": {"ingest_s": 10.0, "chunks": 900, "raw_encode_s": 9.0, "texts": 100, "ratio": 0.9},
        "baseline": {"chunks": 20, "hit@3": 0.5, "promo_in_context": 0.25} | stats,
        "ours": {"chunks": 30, "hit@3": 0.9, "promo_in_context": 0.0} | stats,
        "scale": [{"chunks": 1000, "ingest_s": 30, "lookup": stats, "rss_mb": 600},
                  {"chunks": 100000, "ingest_s": 3000, "lookup": {"median_ms": 25.0, "p95_ms": 40.0}, "rss_mb": 900}],
    }
    text = markdown(result)
    assert "Serving without torch" not in text  # a run without the served path says nothing of it
    served = {"warm": {"embed": {"median_ms": 2.0}, "ask": {"median_ms": 6.0}, "lookup": {"median_ms": 3.0},
                       "ask_ratio": 3.0},
              "one_shot": {"wall_s": 1.8, "cpu_s": 2.1, "rss_mb": 262.0, "imports_torch": False},
              "one_shot_reference": {"wall_s": 14.9, "cpu_s": 13.9, "rss_mb": 611.0, "imports_torch": True}}
    assert "| one-shot `python -m assistant ask`, whole process, median of 3 | 14.90 s wall, 13.90 s CPU, " \
           "611 MB peak, imports torch | 1.80 s wall, 2.10 s CPU, 262 MB peak, no torch imported |" \
           in markdown(result | {"serving": served})
    assert "| `ask` (whole answer) | 10.0 | 20.0 | 2.00 |" in text
    assert "the relevance step (candidates' features and scores, vectors cached) | 2.5 | 4.0 | 0.50 |" in text
    assert "**90%** of raw" in text
    assert "| tutorial | 20 | 0.500 | 25% |" in text
    assert "Retrieval median at 100000 chunks is 2.50× that at 1000" in text


def test_hand_written_sections_survive_a_rewrite(tmp_path):
    from evals.bench import KEPT_FROM, kept_sections

    path = tmp_path / "benchmarks.md"
    path.write_text(f"# Benchmarks\n\n## Scale\nold\n\n{KEPT_FROM}\n\n## Load\n| a | b |\n")
    assert kept_sections(path) == f"{KEPT_FROM}\n\n## Load\n| a | b |\n"
    assert kept_sections(tmp_path / "none.md") == ""


@pytest.mark.integration
def test_tutorial_baseline_puts_promo_text_in_context_and_ours_does_not(real_assistant, real_settings, real_embedder):
    from evals.bench import baseline, ours_on_cases
    from evals.runner import load_cases, load_promo_lines

    cases = [c for c in load_cases() if c.kind == "in_scope"]
    promo = load_promo_lines()
    theirs = baseline(real_settings, real_embedder, cases, promo)
    ours = ours_on_cases(real_assistant, cases, promo)
    assert theirs["promo_in_context"] > 0 and ours["promo_in_context"] == 0
    assert 0 < theirs["hit@3"] <= 1 and ours["hit@3"] >= theirs["hit@3"]
