"""`python -m evals.bench`: speed and scale, beside the pipeline a clinic would otherwise build.

Prints figures and writes them to docs/benchmarks.md (and a plot to docs/scale.png); it asserts
nothing about time. Sections:

1. warm latency of ask and lookup (median, p95) next to the floor, embedding the question alone;
2. ingest throughput next to raw ``model.encode`` of the same texts;
3. the LangChain-tutorial pipeline (RecursiveCharacterTextSplitter 1000/200, Chroma, top-4
   similarity search) on the same questions: Hit@3 (a passage holding the evidence in the top 3), promo text in its context, latency;
4. scale: generated clinic corpora of about 1k, 10k, 100k chunks: ingest time, retrieval
   latency and memory (each size measured in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from .metrics import contains_any, latency_summary
from .system import rss_mb
from .runner import load_cases, load_promo_lines

ROOT = Path(__file__).resolve().parent.parent


def _ms(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def build(settings, embedder):
    from assistant.index import ChromaIndex, open_client
    from assistant.ingest.ingestion import run_ingest
    from assistant.service import build_assistant

    client = open_client(settings)
    report = run_ingest(settings, embedder, ChromaIndex(client, settings.collection), rebuild=True, progress=False)
    return build_assistant(settings, embedder=embedder, client=client), report


def latency(assistant, questions: list[str], repeat: int) -> dict:
    from assistant.answer.chain import Turn

    model = assistant.embedder
    assistant.warm_up()  # as the app does at start: model, index, every unit's word vectors
    for q in questions:  # warm-up round: caches of the model and the index
        assistant.ask(q)
        assistant.lookup(q)
    steps = assistant.steps
    ask, lookup, floor, relevance = [], [], [], []
    for _ in range(repeat):
        for q in questions:
            model.clear_query_cache()  # each timing starts from a question not seen before
            ask.append(_ms(lambda: assistant.ask(q)))
            model.clear_query_cache()
            lookup.append(_ms(lambda: assistant.lookup(q)))
            floor.append(_ms(lambda: model.embed_batch([q])))
            # The relevance step alone: features and probabilities of the candidates, once the
            # question's vectors are cached (gather minus its two index queries).
            turn = steps.retrieve(steps.contextualise(Turn(q))[0])
            relevance.append(_ms(lambda: steps.gather(turn)))
    out = {"ask": latency_summary(ask), "lookup": latency_summary(lookup), "embed": latency_summary(floor), "relevance": latency_summary(relevance),
           "samples": len(ask)}
    out["ask_ratio"] = out["ask"]["median_ms"] / out["embed"]["median_ms"]
    out["lookup_ratio"] = out["lookup"]["median_ms"] / out["embed"]["median_ms"]
    return out


ONE_SHOT = """
import json, runpy, sys, time
started = time.perf_counter()
sys.argv = ["assistant", "ask", "--json", "is it permanent?"]
try:
    runpy.run_module("assistant", run_name="__main__")
except SystemExit:
    pass
heavy = [m for m in ("torch", "sentence_transformers") if m in sys.modules]
# Peak memory of this process image: VmHWM starts afresh at exec (ru_maxrss would keep the
# benchmark's own peak, inherited through fork).
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"rss_mb": peak / 1024, "heavy": heavy}), file=sys.stderr)
"""


def serving(settings, reference, questions: list[str], repeat: int, runs: int = 3) -> dict:
    """The answer path as served: ONNX Runtime (exported like ingest.py does) against the
    reference model, warm in-process and as a one-shot `python -m assistant ask` (wall time and
    peak memory of the whole process, median of ``runs``)."""
    from assistant.embeddings import OnnxEmbedder, export_onnx, onnx_path
    from assistant.service import build_assistant

    export_onnx(settings.model_path, onnx_path(settings))
    onnx = OnnxEmbedder(settings.model_path, onnx_path(settings))
    onnx.warm_up()
    warm = latency(build_assistant(settings, embedder=onnx, client=reference.index.client), questions, repeat)
    served = one_shot(settings.data_dir, settings.corpus_dir, runs)
    # The path before issue 13 in the same run: the same index without the exported model, so
    # `ask` falls back to the reference model (torch).
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(settings.data_dir, Path(tmp) / "data", ignore=shutil.ignore_patterns("models"))
        before = one_shot(Path(tmp) / "data", settings.corpus_dir, runs)
    return {"warm": warm, "one_shot": served, "one_shot_reference": before}


def one_shot(data_dir: Path, corpus_dir: Path, runs: int) -> dict:
    """`python -m assistant ask --json "is it permanent?"` as a fresh process: medians of wall
    time, CPU time (user + system: what the machine spends, less sensitive to other load) and
    peak memory, and whether torch was imported."""
    env = dict(os.environ, DATA_DIR=str(data_dir), CORPUS_DIR=str(corpus_dir), HF_HUB_OFFLINE="1")
    walls, cpus, rss, heavy = [], [], [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", ONE_SHOT], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        stats = json.loads(done.stderr.strip().splitlines()[-1])
        rss.append(stats["rss_mb"])
        heavy = stats["heavy"]
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "rss_mb": statistics.median(rss),
            "imports_torch": bool(heavy)}


def ingest_throughput(settings, embedder) -> dict:
    """Ingest (rebuild) against raw encode of exactly the texts ingest embedded."""
    from assistant.ingest.chunking import chunk_document
    from assistant.ingest.cleaning import clean_document, unit_embedding_text
    from assistant.ingest.loading import load_corpus

    _, report = build(settings, embedder)
    docs = load_corpus(settings.corpus_dir).documents
    texts = []
    for doc in docs:
        cleaned = clean_document(doc)
        for chunk in chunk_document(cleaned, settings.chunk_max_chars):
            texts.append(chunk.embedding_text)
            texts += [unit_embedding_text(chunk.section, u.quote) for u in chunk.units]
    started = time.perf_counter()
    embedder.embed_batch(texts)  # one call: sentence-transformers sorts by length and batches
    raw = time.perf_counter() - started
    return {"ingest_s": report.seconds, "chunks": report.chunks_added, "raw_encode_s": raw,
            "texts": len(texts), "ratio": raw / report.seconds}


def baseline(settings, embedder, cases, promo: list[str]) -> dict:
    """The tutorial pipeline: split raw files 1000/200, embed, Chroma top-4 similarity."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    texts = []
    for path in sorted(settings.corpus_dir.glob("*.txt")):
        texts += splitter.split_text(path.read_text(encoding="utf-8"))
    client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
    # In-memory clients of one process share their collections: a fresh name per run.
    name = f"baseline-{uuid.uuid4().hex[:8]}"
    collection = client.create_collection(name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    collection.add(ids=[str(i) for i in range(len(texts))], documents=texts,
                   embeddings=embedder.embed_batch(texts).tolist())
    hits, promo_hits, times = 0, 0, []
    for case in cases:
        started = time.perf_counter()
        vector = embedder.embed_batch([case.question])[0]
        got = collection.query(query_embeddings=[vector.tolist()], n_results=4, include=["documents"])["documents"][0]
        times.append((time.perf_counter() - started) * 1000)
        hits += any(contains_any(t, case.evidence) for t in got[:3])
        promo_hits += any(contains_any(t, promo) for t in got)
    client.delete_collection(name)
    return {"chunks": len(texts), "hit@3": hits / len(cases), "promo_in_context": promo_hits / len(cases),
            **latency_summary(times)}


def ours_on_cases(assistant, cases, promo: list[str]) -> dict:
    hits, promo_hits, times = 0, 0, []
    for case in cases:
        assistant.embedder.clear_query_cache()
        started = time.perf_counter()
        docs = assistant.lookup(case.question, 4)
        times.append((time.perf_counter() - started) * 1000)
        hits += any(contains_any(d.page_content, case.evidence) for d in docs[:3])
        promo_hits += any(contains_any(d.page_content, promo) for d in docs)
    return {"chunks": assistant.status()["chunks"], "hit@3": hits / len(cases),
            "promo_in_context": promo_hits / len(cases), **latency_summary(times)}


def scale_point(chunks: int, workdir: Path) -> dict:
    """Generate, ingest, then measure retrieval in a fresh process (so memory is the reader's)."""
    from assistant.embeddings import get_embedder
    from assistant.settings import Settings

    from .synthetic import write_corpus

    corpus, data = workdir / f"corpus-{chunks}", workdir / f"data-{chunks}"
    write_corpus(corpus, chunks)
    settings = Settings.from_env({}, corpus_dir=corpus, data_dir=data)
    embedder = get_embedder(settings)
    embedder.warm_up()
    _, report = build(settings, embedder)
    env = os.environ | {"CORPUS_DIR": str(corpus), "DATA_DIR": str(data)}
    out = subprocess.run([sys.executable, "-m", "evals.bench", "--worker"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    return {"requested": chunks, "chunks": report.chunks_added, "ingest_s": report.seconds} | json.loads(out.stdout)


def worker() -> None:
    """Open the index in this fresh process and time lookups; print JSON."""
    from assistant.service import build_assistant
    from assistant.settings import Settings

    assistant = build_assistant(Settings.from_env())
    assistant.warm_up()
    rss_before = rss_mb()
    questions = ["how long does redness last after microneedling", "sunscreen after treatment",
                 "how many sessions for acne scars", "can I swim after needling", "when do results show"]
    times = []
    for _ in range(10):
        for q in questions:
            assistant.embedder.clear_query_cache()
            times.append(_ms(lambda: assistant.lookup(q, 4)))
    print(json.dumps({"lookup": latency_summary(times), "rss_mb": rss_mb(), "rss_after_open_mb": rss_before}))


def _serving_lines(serving: dict | None, reference: dict) -> list[str]:
    if not serving:
        return []
    warm, served, before = serving["warm"], serving["one_shot"], serving["one_shot_reference"]

    def shot(r: dict) -> str:
        return (f"{r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU, {r['rss_mb']:.0f} MB peak"
                f"{', imports torch' if r['imports_torch'] else ', no torch imported'}")

    return [
        "## Serving without torch (ONNX Runtime)", "",
        "The same model exported to ONNX at ingest and run by ONNX Runtime with the model's own tokenizer "
        "(vectors match the reference within cosine 0.999, `tests/test_serving.py`), in the same run as the "
        "reference path above. The token-vector table is read row by row from its own file and the model "
        "runs one text at a time; word frequencies come from a compact table "
        "(`assistant/word_frequency.py`).", "",
        "| | reference (sentence-transformers) | served (ONNX Runtime) |", "| --- | --- | --- |",
        f"| embed the question alone (floor), median | {reference['embed']['median_ms']:.1f} ms | {warm['embed']['median_ms']:.1f} ms |",
        f"| `ask`, warm, median | {reference['ask']['median_ms']:.1f} ms | {warm['ask']['median_ms']:.1f} ms "
        f"({warm['ask_ratio']:.2f}× its floor, {warm['ask']['median_ms'] / reference['embed']['median_ms']:.2f}× the old floor) |",
        f"| `lookup`, warm, median | {reference['lookup']['median_ms']:.1f} ms | {warm['lookup']['median_ms']:.1f} ms |",
        f"| one-shot `python -m assistant ask`, whole process, median of 3 | {shot(before)} | {shot(served)} |",
        "", "Targets (issue 13): one-shot at most 2 s and 300 MB.", "",
    ]


def plot(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [p["chunks"] for p in points]
    ax.plot(xs, [p["lookup"]["median_ms"] for p in points], marker="o", label="median")
    ax.plot(xs, [p["lookup"]["p95_ms"] for p in points], marker="s", label="95th percentile")
    ax.set_xscale("log")
    ax.set_xlabel("chunks in the index")
    ax.set_ylabel("retrieval latency (ms)")
    ax.set_title("Hybrid retrieval latency against corpus size")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(r: dict) -> str:
    lat, ing, base, ours = r["latency"], r["ingest"], r["baseline"], r["ours"]
    lines = [
        "# Benchmarks", "",
        f"Measured {r['date']} with `python -m evals.bench` on {r['machine']}. "
        "Medians and 95th percentiles in milliseconds; every timing starts from a question whose "
        "vector is not cached.", "",
        "## Answer latency against its floor", "",
        "| | median | p95 | × embedding |", "| --- | --- | --- | --- |",
        f"| embed the question alone (floor) | {lat['embed']['median_ms']:.1f} | {lat['embed']['p95_ms']:.1f} | 1.00 |",
        f"| `ask` (whole answer) | {lat['ask']['median_ms']:.1f} | {lat['ask']['p95_ms']:.1f} | {lat['ask_ratio']:.2f} |",
        f"| `lookup` (ranked passages) | {lat['lookup']['median_ms']:.1f} | {lat['lookup']['p95_ms']:.1f} | {lat['lookup_ratio']:.2f} |",
        f"| of which the relevance step (candidates' features and scores, vectors cached) | "
        f"{lat['relevance']['median_ms']:.1f} | {lat['relevance']['p95_ms']:.1f} | "
        f"{lat['relevance']['median_ms'] / lat['embed']['median_ms']:.2f} |",
        "", f"{lat['samples']} timings each. Target: ask median at most 3× the floor, the relevance model included. "
        "One model pass gives the question's vector and its word vectors; the units' word vectors are "
        "computed when the app starts (the seed corpus's 81 units: 0.6-0.7 s of CPU with the served model, "
        "in a thread beside Gradio's import).", "",
        *_serving_lines(r.get("serving"), lat),
        "## Ingest throughput", "",
        f"Ingest (rebuild) of the generated 1k-chunk corpus: {ing['chunks']} chunks in {ing['ingest_s']:.1f} s. "
        f"Raw `model.encode` of the same {ing['texts']} texts (chunks and units): {ing['raw_encode_s']:.1f} s. Ingest runs at **{100 * ing['ratio']:.0f}%** of raw "
        "encode throughput (target 85%); the rest is reading, cleaning, chunking and Chroma writes.", "",
        "## Against the LangChain-tutorial pipeline", "",
        "Same questions (the in-scope evaluation cases), same model, same corpus. The tutorial pipeline "
        "splits the raw files with RecursiveCharacterTextSplitter(1000, 200) and takes Chroma's top-4 "
        "similarity results; ours cleans, chunks by section and fuses dense and BM25 rankings.", "",
        "| pipeline | chunks | Hit@3 | questions with promo text in context | median | p95 |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| tutorial | {base['chunks']} | {base['hit@3']:.3f} | {100 * base['promo_in_context']:.0f}% | {base['median_ms']:.1f} | {base['p95_ms']:.1f} |",
        f"| this project (`lookup`) | {ours['chunks']} | {ours['hit@3']:.3f} | {100 * ours['promo_in_context']:.0f}% | {ours['median_ms']:.1f} | {ours['p95_ms']:.1f} |",
        "", "## Scale", "",
        "Generated clinic handouts (`evals/synthetic.py`), ingested with the real pipeline; retrieval "
        f"measured in a fresh process (5 questions × 10){r.get('scale_note', '')}.", "",
        "| chunks | ingest | lookup median | lookup p95 | reader memory (RSS) |", "| --- | --- | --- | --- | --- |",
    ]
    for p in r["scale"]:
        lines.append(f"| {p['chunks']} | {p['ingest_s']:.0f} s | {p['lookup']['median_ms']:.1f} | "
                     f"{p['lookup']['p95_ms']:.1f} | {p['rss_mb']:.0f} MB |")
    if len(r["scale"]) > 1:
        first, last = r["scale"][0], r["scale"][-1]
        lines += ["", f"Retrieval median at {last['chunks']} chunks is "
                      f"{last['lookup']['median_ms'] / first['lookup']['median_ms']:.2f}× that at {first['chunks']} "
                      "(target: at most 3× from 1k to 100k).", "", "![latency against size](scale.png)"]
    return "\n".join(lines) + "\n"


# Sections of docs/benchmarks.md written by hand (measurements of other commands, kept with their
# history): everything from this marker on is carried over when the benchmark rewrites the file.
KEPT_FROM = "<!-- Sections below are written by hand from other commands and kept by `python -m evals.bench`. -->"


def kept_sections(path: Path) -> str:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return text[text.index(KEPT_FROM):] if KEPT_FROM in text else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="scale points, comma-separated chunk counts; empty: keep the last run's scale points")
    parser.add_argument("--repeat", type=int, default=10, help="rounds of the latency questions")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where benchmarks.md and scale.png go")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.worker:
        worker()
        return 0

    from assistant.embeddings import get_embedder
    from assistant.settings import Settings

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    cases = [c for c in load_cases() if c.kind == "in_scope"]
    promo = load_promo_lines()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        settings = Settings.from_env({}, data_dir=work / "data")
        embedder = get_embedder(settings)
        embedder.warm_up()
        assistant, _ = build(settings, embedder)
        result = {"date": time.strftime("%Y-%m-%d"),
                  "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, CPU only"}
        result["latency"] = latency(assistant, [c.question for c in cases[:12]], args.repeat)
        print("latency", json.dumps(result["latency"]), flush=True)
        result["serving"] = serving(settings, assistant, [c.question for c in cases[:12]], args.repeat)
        print("serving", json.dumps(result["serving"]), flush=True)
        result["ours"] = ours_on_cases(assistant, cases, promo)
        result["baseline"] = baseline(settings, embedder, cases, promo)
        print("ours", json.dumps(result["ours"]), "\nbaseline", json.dumps(result["baseline"]), flush=True)
        from .synthetic import write_corpus

        write_corpus(work / "ingest-corpus", 1000)
        ingest_settings = replace(settings, corpus_dir=work / "ingest-corpus", data_dir=work / "ingest-data")
        result["ingest"] = ingest_throughput(ingest_settings, embedder)
        print("ingest", json.dumps(result["ingest"]), flush=True)
        result["scale"] = []
        for size in sizes:
            result["scale"].append(scale_point(size, work))
            print("scale", json.dumps(result["scale"][-1]), flush=True)
    args.docs.mkdir(parents=True, exist_ok=True)
    previous = args.docs / "benchmarks.json"
    if not sizes and previous.exists():
        last = json.loads(previous.read_text(encoding="utf-8"))
        result["scale"] = last.get("scale", [])
        result["scale_note"] = last.get("scale_note") or f"; measured {last.get('date')}, not re-run"
    if result["scale"] and sizes:
        plot(result["scale"], args.docs / "scale.png")
    kept = kept_sections(args.docs / "benchmarks.md")
    (args.docs / "benchmarks.md").write_text(markdown(result) + ("\n" + kept if kept else ""), encoding="utf-8")
    (args.docs / "benchmarks.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {args.docs / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
