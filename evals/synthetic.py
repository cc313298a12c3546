"""Generate clinic-like documents of a chosen size, for scale benchmarks (never copied text).

Documents read like clinic handouts: a title, sections with headings, short paragraphs built
from sentence templates with varied treatments, skin concerns, times and products. Seeded,
so a size always yields the same corpus.
"""

from __future__ import annotations

import random
from pathlib import Path

TREATMENTS = ["microneedling", "radiofrequency microneedling", "collagen induction therapy", "a skin needling session",
              "a combined peel and needling treatment", "PRP microneedling"]
CONCERNS = ["acne scars", "fine lines", "enlarged pores", "uneven tone", "stretch marks", "sun damage",
            "surgical scars", "dull texture", "pigmentation", "loose skin on the neck"]
PRODUCTS = ["a gentle cleanser", "a fragrance-free moisturiser", "mineral sunscreen", "hyaluronic serum",
            "a barrier repair cream", "a calming balm"]
TIMES = ["24 hours", "two days", "three days", "a week", "ten days", "two weeks", "four to six weeks"]
SECTIONS = ["Before your appointment", "On the day", "Straight after treatment", "The first week",
            "How results develop", "Planning your sessions", "Looking after your skin", "When to call us",
            "Combining treatments", "Questions patients ask"]
TEMPLATES = [
    "Most patients treated with {t} for {c} notice a change after {time}.",
    "Apply {p} twice a day for {time} after {t}.",
    "Avoid make-up, swimming pools and saunas for {time} after {t}.",
    "Redness after {t} usually settles within {time}, much like a mild sunburn.",
    "A course of {n} sessions spaced {time} apart is typical when treating {c}.",
    "Results for {c} keep improving for {time} as new collagen forms.",
    "Stop exfoliating acids and retinoids {time} before {t}.",
    "Your practitioner chooses the needle depth for {c} at the consultation.",
    "Protect treated skin with {p} and a hat for {time}.",
    "Maintenance visits every {time} help keep the improvement in {c}.",
    "Tell the clinic about cold sores or recent tanning before {t}.",
    "Patients with {c} often combine {t} with {p} at home.",
]


def _sentence(rng: random.Random) -> str:
    return rng.choice(TEMPLATES).format(t=rng.choice(TREATMENTS), c=rng.choice(CONCERNS), p=rng.choice(PRODUCTS),
                                        time=rng.choice(TIMES), n=rng.randint(2, 6))


def write_corpus(folder: Path, chunks: int, seed: int = 7, sections_per_doc: int = 5) -> int:
    """Write about ``chunks`` chunks' worth of documents into ``folder``; returns files written.

    One section holds one paragraph of two or three sentences, which the chunker keeps as one
    chunk. Cleaning drops sentences that repeat one earlier in the same document, so the
    index ends up a little smaller than asked; the benchmark reports the real count.
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = 0
    for doc in range(0, chunks, sections_per_doc):
        clinic = f"Clinic {doc // sections_per_doc + 1:05d}"
        lines = [f"{rng.choice(['Aftercare', 'Treatment', 'Patient'])} guide for {rng.choice(TREATMENTS)}, {clinic}", ""]
        for s in range(min(sections_per_doc, chunks - doc)):
            # Numbering keeps every paragraph distinct, as real documents are.
            lines += [f"{rng.choice(SECTIONS)} ({s + 1})", ""]
            lines += [" ".join(_sentence(rng) for _ in range(rng.randint(2, 3))), ""]
        (folder / f"guide-{doc // sections_per_doc:05d}.txt").write_text("\n".join(lines), encoding="utf-8")
        files += 1
    return files
