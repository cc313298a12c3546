"""`python -m evals.load`: a bounded burst of visitors against the app, on loopback only.

Starts `python app.py` on a free loopback port (rate limit off, its own data folder unless
DATA_DIR is set), sends N /api/ask requests with C in flight, then N through the Gradio
endpoint, and reports throughput, median and 95th-percentile latency, errors, and the
server's memory before and after. Every request has a timeout; the run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .metrics import percentile
from .system import free_port, rss_mb
from .runner import load_cases

ROOT = Path(__file__).resolve().parent.parent


def start_server(port: int, data_dir: Path | None = None) -> subprocess.Popen:
    # One client address stands for many visitors here: no per-client budget, stream or socket share.
    env = os.environ | {"PORT": str(port), "HOST": "127.0.0.1", "RATE_LIMIT": "0", "HF_HUB_OFFLINE": "1",
                        "CLIENT_STREAMS": "10000", "CLIENT_CONNECTIONS": "10000"}
    if data_dir is not None:
        env["DATA_DIR"] = str(data_dir)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            proc.ready_s = time.perf_counter() - started  # process start to a ready /healthz
            proc.ready_rss_mb = rss_mb(proc.pid)
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("the app did not start: run `python ingest.py` first, then try again")
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the app did not answer /healthz within 180 s")


def burst(send, questions: list[str], total: int, concurrency: int) -> dict:
    """Run ``send(question)`` ``total`` times with ``concurrency`` in flight; latencies and errors."""
    def one(i: int):
        started = time.perf_counter()
        try:
            send(questions[i % len(questions)])
            return (time.perf_counter() - started) * 1000, None
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            return (time.perf_counter() - started) * 1000, repr(exc)[:200]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(total)))
    wall = time.perf_counter() - started
    latencies = [ms for ms, err in results if err is None]
    errors = [err for _, err in results if err is not None]
    return {
        "requests": total, "concurrency": concurrency, "seconds": wall, "throughput_rps": total / wall,
        "median_ms": statistics.median(latencies) if latencies else float("nan"),
        "p95_ms": percentile(latencies, 95) if latencies else float("nan"),
        "errors": len(errors), "first_errors": errors[:3],
    }


def run(url: str, pid: int | None, total: int, concurrency: int, gradio_too: bool = True) -> dict:
    questions = [c.question for c in load_cases() if c.kind in ("in_scope", "out_of_scope")]

    def api(question: str) -> None:
        req = urllib.request.Request(url + "/api/ask", data=json.dumps({"question": question}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=60) as resp:
            if resp.status != 200 or "caveat" not in json.loads(resp.read()):
                raise RuntimeError(f"HTTP {resp.status}")

    from gradio_client import Client

    from assistant.answer.answering import CRISIS_LEAD, URGENT_MESSAGE

    clients: dict[int, Client] = {}

    def gradio(question: str) -> None:
        import threading

        client = clients.get(threading.get_ident())
        if client is None:
            client = clients[threading.get_ident()] = Client(url + "/", verbose=False)
        reply = client.predict(question, api_name="/chat")
        # Every reply carries the caveat but an urgent one (the safety or the crisis message).
        if "not truly permanent" not in reply and not reply.startswith((URGENT_MESSAGE, CRISIS_LEAD)):
            raise RuntimeError("reply without the caveat")

    # Warm both paths first (model, index, Gradio queue, client connections), so the memory
    # figures compare a warm server with itself rather than with a cold one.
    burst(api, questions, 4 * concurrency, concurrency)
    if gradio_too:
        burst(gradio, questions, 4 * concurrency, concurrency)
    report = {"memory_before_mb": rss_mb(pid) if pid else None}
    report["api"] = burst(api, questions, total, concurrency)
    # The same questions, each made one never asked before (a visitor number), so no cache of the
    # question's vectors helps: what a site with many different visitors sees.
    distinct = [f"{questions[i % len(questions)]} (visitor {i})" for i in range(total)]
    report["api_distinct"] = burst(api, distinct, total, concurrency)
    report["memory_after_api_mb"] = rss_mb(pid) if pid else None
    if gradio_too:
        report["gradio"] = burst(gradio, questions, total, concurrency)
    report["memory_after_mb"] = rss_mb(pid) if pid else None
    return report


def reference_data_dir(work: Path) -> Path:
    """A copy of DATA_DIR without the exported serving model, so the app answers with the
    reference model (sentence-transformers, torch) on the same index: the path before issue 13."""
    from assistant.embeddings import onnx_path
    from assistant.settings import Settings

    settings = Settings.from_env()
    skip = {onnx_path(settings).parent.parent.name, "evals"}  # the exported models; the evaluation indexes
    target = work / "data"
    shutil.copytree(settings.data_dir, target,
                    ignore=lambda d, names: [n for n in names if n in skip] if Path(d) == settings.data_dir else [])
    return target


def serve_and_run(args, data_dir: Path | None, gradio_too: bool) -> dict:
    port = free_port()
    server = start_server(port, data_dir)
    try:
        report = run(f"http://127.0.0.1:{port}", server.pid, args.requests, args.concurrency, gradio_too)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return report | {"ready_s": server.ready_s, "ready_rss_mb": server.ready_rss_mb}


def markdown(r: dict) -> str:
    lines = ["## Load", "",
             f"`python -m evals.load`: {r['api']['requests']} requests with {r['api']['concurrency']} in flight, "
             "from the same machine over loopback, against `python app.py` (CONCURRENCY=4, rate limit off).", "",
             "| endpoint | throughput | median | p95 | errors |", "| --- | --- | --- | --- | --- |"]
    names = {"api": "POST /api/ask, repeated questions", "api_distinct": "POST /api/ask, distinct questions never asked before",
             "gradio": "Gradio /chat (gradio_client)"}
    for name, label in names.items():
        if name not in r:
            continue
        p = r[name]
        lines.append(f"| {label} | {p['throughput_rps']:.0f} req/s | {p['median_ms']:.0f} ms | {p['p95_ms']:.0f} ms | {p['errors']} |")
    ref = r.get("reference")
    if ref:
        for name in ("api", "api_distinct"):
            p = ref[name]
            lines.append(f"| {names[name]}, reference model (torch), same run | {p['throughput_rps']:.0f} req/s | "
                         f"{p['median_ms']:.0f} ms | {p['p95_ms']:.0f} ms | {p['errors']} |")
    if r.get("memory_before_mb"):
        growth = 100 * (r["memory_after_mb"] / r["memory_before_mb"] - 1)
        lines += ["", f"Server memory (RSS, after a warm-up round): {r['memory_before_mb']:.0f} MB before, "
                      f"{r['memory_after_api_mb']:.0f} MB after the API bursts, {r['memory_after_mb']:.0f} MB after "
                      f"all ({growth:+.1f}%; aim: under +10%)."
                      + (f" Process start to a ready /healthz: {r['ready_s']:.1f} s ({r['ready_rss_mb']:.0f} MB)."
                         if "ready_s" in r else "")]
    if ref:
        lines += ["", f"Reference model, same run: ready in {ref['ready_s']:.1f} s ({ref['ready_rss_mb']:.0f} MB); "
                      f"{ref['memory_before_mb']:.0f} MB before, {ref['memory_after_mb']:.0f} MB after the API bursts."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--docs", type=Path, help="append the figures to this markdown file")
    parser.add_argument("--reference", action="store_true",
                        help="then the same API bursts against the app answering with the reference model "
                             "(sentence-transformers), on a copy of DATA_DIR without the exported model")
    args = parser.parse_args(argv)
    if not 1 <= args.concurrency <= 256 or not 1 <= args.requests <= 100_000:
        parser.error("keep --concurrency within 1..256 and --requests within 1..100000")
    report = serve_and_run(args, None, gradio_too=True)
    if args.reference:
        with tempfile.TemporaryDirectory() as tmp:
            report["reference"] = serve_and_run(args, reference_data_dir(Path(tmp)), gradio_too=False)
    print(json.dumps(report, indent=2))
    text = markdown(report)
    print(text)
    if args.docs:
        with args.docs.open("a", encoding="utf-8") as f:
            f.write("\n" + text)
    runs = [report] + ([report["reference"]] if "reference" in report else [])
    return 1 if any(r[k]["errors"] for r in runs for k in ("api", "api_distinct", "gradio") if k in r) else 0


if __name__ == "__main__":
    sys.exit(main())
