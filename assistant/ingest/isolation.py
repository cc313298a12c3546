"""One document read in a worker process with a time and a memory limit, as ingest would read it.

The console reads an upload before storing it, and a document's page shows what cleaning drops
from it. Reading is the one step whose cost the file's author chooses (markup nested 100,000 deep, a
PDF of 20,000 pages, a compression bomb), so it runs in a child process: the server only waits on a
pipe, its event loop and its answering threads untouched, and a child past its limits is killed and
the file refused with the reason. Run as ``python -m assistant.ingest.isolation``, it is that child.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .structure import Dropped

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the `assistant` package
_MODULE = "assistant.ingest.isolation"
# The text helpers import numpy, whose BLAS would reserve memory for a thread a core: a child
# that only reads a document needs one.
# An allocation fails once the next request would cross the limit; a large one (a tree's next
# block, a buffer doubling) can fail with a tenth of the limit still free.
_NEAR_LIMIT = 0.9
_RESERVE = 16 * 1024 * 1024
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Reading:
    """What ingest would make of a file: why it would skip it ("" when it reads), and what
    cleaning leaves out of it (``ingest.py --explain``)."""

    reason: str
    dropped: tuple[Dropped, ...] = ()


def read_isolated(name: str, source: bytes | Path, meta: dict | None = None, *, timeout: float,
                  memory_mb: int) -> Reading:
    """Read ``source`` (a file's bytes, or a file, which the child opens) as the corpus file ``name``
    with its sources.toml entry ``meta``, in a child process that may use ``memory_mb`` of memory
    and ``timeout`` seconds; it is killed past them.

    Blocks the calling thread (not the GIL) until the child is done: call it from a worker thread."""
    path = str(source) if isinstance(source, Path) else ""
    request = json.dumps({"name": name, "path": path, "meta": meta or {}, "memory_mb": memory_mb,
                          "cpu_seconds": timeout}, default=str)
    limits = (f"the limits for one document are {timeout:g} s and {memory_mb} MB of memory: keep only the text, "
              "or split it")
    try:
        done = subprocess.run([sys.executable, "-m", _MODULE, request], input=b"" if path else source,
                              capture_output=True, timeout=timeout, cwd=_ROOT, env=os.environ | _ONE_THREAD)
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
        return Reading(f"it took longer than {timeout:g} s to read; {limits}")
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = None
    if done.returncode == 0 and isinstance(answer, dict):
        if answer.get("trace"):
            log.warning("reading %s met a fault of ours:\n%s", name, answer["trace"])
        return Reading(answer["reason"], tuple(Dropped(*d) for d in answer["dropped"]))
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return Reading(f"it took longer than {timeout:g} s to read; {limits}")
    # Out of memory somewhere Python could not report it, or a fault of ours: the log has the trace.
    log.warning("reading %s in a worker failed (exit %s): %s", name, done.returncode,
                done.stderr.decode("utf-8", "replace")[-2000:])
    return Reading(f"it could not be read within the limits; {limits}")


def _child() -> None:
    request = json.loads(sys.argv[1])
    memory = request["memory_mb"] * 1024 * 1024
    with tempfile.TemporaryDirectory() as folder:
        # The bytes go to a file before the limits: only reading them is what the limits bound.
        path = request["path"] or _stdin_to(Path(folder) / Path(request["name"]).name)
        # Address space, not resident memory: the only limit the kernel enforces for every allocation.
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        # CPU time as a second bound beside the parent's clock (SIGXCPU ends the child).
        cpu = int(request["cpu_seconds"]) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.nice(10)  # on a busy machine, answering questions comes first
        # Freed on a fault, so that finding and saying what happened has memory to do it in.
        reserve = bytearray(_RESERVE)
        try:
            answer = _read(request["name"], path, request["meta"])
        except Exception as exc:  # noqa: BLE001 - as ingest does: the file is refused, the trace logged
            del reserve
            answer = _fault(exc, memory)
        if answer is None:
            gc.collect()  # the tree's elements point at each other: only the collector frees them
            answer = {"reason": f"it needs more than {request['memory_mb']} MB of memory to read: keep only the "
                                "text, or split it", "dropped": []}
        sys.stdout.write(json.dumps(answer))


def _stdin_to(path: Path) -> str:
    path.write_bytes(sys.stdin.buffer.read())
    return str(path)


def _fault(exc: Exception, memory: int) -> dict | None:
    """What to say of a read that raised ``exc``: None when the memory limit was its cause.

    A C library whose allocation fails may say so with any exception (lxml has raised SystemError
    "error return without exception set"), so the test is whether the address space reached its
    limit, whatever the exception's name."""
    if isinstance(exc, MemoryError) or _peak_address_space() >= memory * _NEAR_LIMIT:
        return None
    import traceback

    return {"reason": f"it could not be read ({type(exc).__name__}); save it in another format, and please report "
                      "it", "dropped": [], "trace": traceback.format_exc()}


def _peak_address_space() -> int:
    """The most address space this process has held, in bytes (Linux's VmPeak; 0 when unknown)."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmPeak:"):
            return int(line.split()[1]) * 1024
    return 0


def _read(name: str, path: str, meta: dict) -> dict:
    """The file at ``path`` loaded and cleaned as ingest would."""
    from .cleaning import clean_document
    from .loading import _Unreadable, load_document

    try:
        doc = load_document(Path(path), name, meta)
    except _Unreadable as exc:
        return {"reason": str(exc), "dropped": []}
    clean = clean_document(doc)
    dropped = [[d.line, d.text, d.reason] for d in clean.dropped]
    if not any(block.units for block in clean.blocks):
        # Ingest would index nothing of it: say so, rather than leave it waiting for an index
        # that never comes.
        return {"reason": f"nothing is left to answer from once page furniture, repeats and hidden text are "
                          f"left out ({len(dropped)} lines, listed below): save the document's own text as .txt "
                          f"or .md and upload that", "dropped": dropped}
    return {"reason": "", "dropped": dropped}


if __name__ == "__main__":
    _child()
