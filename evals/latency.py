"""Warm answer latency next to its floor, the time to embed the question alone.

`python -m evals.latency [--repeat N]` prints medians over N rounds of the same questions on
this machine; the first round only warms up (model load, index open) and is not counted.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import time

QUESTIONS = [
    "How long do microneedling results last?",
    "Is microneedling permanent?",
    "Does microneedling help with acne scars?",
    "How many sessions will I need?",
    "What happens right after a session?",
    "How much does microneedling cost?",
]


def measure(assistant, questions: list[str], repeat: int) -> dict:
    for q in questions:
        assistant.ask(q)  # warm-up round
    ask_ms, cached_ms, embed_ms = [], [], []
    model = assistant.embedder
    for _ in range(repeat):
        for q in questions:
            model.clear_query_cache()  # a new question: its vector is not cached yet
            started = time.perf_counter()
            assistant.ask(q)
            ask_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            assistant.ask(q)  # the same question again (a retry, a popular question)
            cached_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            model.embed_batch([q])  # uncached: the floor an answer cannot go below
            embed_ms.append((time.perf_counter() - started) * 1000)
    return {"ask_median_ms": statistics.median(ask_ms), "repeat_median_ms": statistics.median(cached_ms),
            "embed_median_ms": statistics.median(embed_ms), "samples": len(ask_ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from assistant.service import build_assistant
    from assistant.settings import Settings

    result = measure(build_assistant(Settings.from_env()), QUESTIONS, args.repeat)
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores")
    print(f"warm ask median:        {result['ask_median_ms']:.1f} ms over {result['samples']} answers")
    print(f"repeated question:      {result['repeat_median_ms']:.1f} ms (question vector cached)")
    print(f"embed question median:  {result['embed_median_ms']:.1f} ms")
    print(f"ratio:                  {result['ask_median_ms'] / result['embed_median_ms']:.2f}x")


if __name__ == "__main__":
    main()
