"""Re-ingest is atomic and single: readers never see a mix, a killed ingest harms nothing,
two ingests never run at once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from assistant.errors import IngestBusyError
from assistant.index import ChromaIndex, open_client
from assistant.ingest.ingestion import run_ingest
from assistant.service import build_assistant
from assistant.settings import PROJECT_ROOT


@pytest.fixture
def index(settings):
    return ChromaIndex(open_client(settings), settings.collection)


def test_second_ingest_is_refused_while_one_runs(settings, fake_embedder, index):
    index.acquire_ingest_lock()  # this live process plays the running ingest
    with pytest.raises(IngestBusyError, match=rf"pid {os.getpid()} on {socket.gethostname()}.*wait for it"):
        run_ingest(settings, fake_embedder, index, progress=False)
    index.release_ingest_lock()
    assert run_ingest(settings, fake_embedder, index, progress=False).chunks_added > 0


def _dead_lock(index, generation=0):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    index.client.create_collection(f"{index.name}__ingest_lock__{generation}", embedding_function=None,
                                   metadata={"pid": dead.pid, "host": socket.gethostname(), "started": time.time()})


def _locks(index):
    return sorted(c.name for c in index.client.list_collections() if "__ingest_lock__" in c.name)


def test_lock_left_by_a_dead_process_is_taken_over(settings, fake_embedder, index):
    _dead_lock(index, 3)
    assert run_ingest(settings, fake_embedder, index, progress=False).chunks_added > 0
    assert _locks(index) == []  # taken over as generation 4, then released; the dead one is gone


def test_two_racing_take_overs_of_a_stale_lock_have_one_winner(settings):
    _dead_lock(ChromaIndex(open_client(settings), settings.collection))
    contenders = [ChromaIndex(open_client(settings), settings.collection) for _ in range(4)]
    start, results = threading.Barrier(len(contenders)), []

    def take(index):
        start.wait()
        try:
            index.acquire_ingest_lock()
            results.append("won")
        except IngestBusyError:
            results.append("busy")

    threads = [threading.Thread(target=take, args=(c,)) for c in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["busy"] * 3 + ["won"]
    winner = next(c for c in contenders if c._held_lock)
    assert _locks(winner) == [f"{settings.collection}__ingest_lock__1"]
    winner.release_ingest_lock()
    assert _locks(winner) == []


def test_a_live_lock_is_never_taken_over(settings, index):
    index.acquire_ingest_lock()
    other = ChromaIndex(open_client(settings), settings.collection)
    with pytest.raises(IngestBusyError):
        other.acquire_ingest_lock()
    index.release_ingest_lock()
    other.acquire_ingest_lock()  # free again once released
    other.release_ingest_lock()


def test_queries_during_reingest_get_old_or_new_never_an_error(settings, fake_embedder, index):
    run_ingest(settings, fake_embedder, index, progress=False)
    assistant = build_assistant(settings, embedder=fake_embedder, client=index.client)
    assistant.reader.refresh_seconds = 0  # look at the pointer on every question
    errors, statuses, stop = [], [], threading.Event()

    def ask_forever():
        while not stop.is_set():
            try:
                statuses.append(assistant.ask("What is collagen induction therapy?").status)
            except Exception as exc:  # noqa: BLE001 - any error is the failure this test looks for
                errors.append(repr(exc))

    readers = [threading.Thread(target=ask_forever) for _ in range(3)]
    for t in readers:
        t.start()
    for _ in range(4):
        run_ingest(settings, fake_embedder, index, rebuild=True, progress=False)
    stop.set()
    for t in readers:
        t.join()
    assert not errors
    assert statuses and set(statuses) == {"answered"}


def _half_written(index: ChromaIndex, good) -> bool:
    """A build other than ``good`` has collections, and the pointer still names ``good``."""
    names = [c.name for c in index.client.list_collections()]
    building = [n for n in names if ("__chunks__" in n or "__units__" in n) and not n.endswith(good.build)]
    return bool(building) and index.active_build() == good


def _env(settings) -> dict:
    return os.environ | {"CORPUS_DIR": str(settings.corpus_dir), "DATA_DIR": str(settings.data_dir),
                         "HF_HUB_OFFLINE": "1"}


@pytest.mark.integration
def test_killed_ingest_leaves_the_old_index_serving(settings):
    from assistant.embeddings import get_embedder
    from evals.synthetic import write_corpus

    real_embedder = get_embedder(settings)  # the shared model, not the per-store fixture: one run
    index = ChromaIndex(open_client(settings), settings.collection)
    run_ingest(settings, real_embedder, index, progress=False)
    good = index.active_build()
    write_corpus(settings.corpus_dir / "generated", 400)  # long enough to be killed part-way
    proc = subprocess.Popen([sys.executable, "ingest.py"], cwd=PROJECT_ROOT, env=_env(settings),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The kill point is a state, not a time: the new build's first collection exists (it is being
    # written) and the pointer has not moved. The ingest is killed as soon as that is seen (the
    # build takes seconds more to write). It is not first frozen with SIGSTOP and checked: a
    # stopped writer can hold SQLite's lock, and the check then waits for it for ever.
    deadline = time.time() + 300
    while not _half_written(index, good):
        assert proc.poll() is None and time.time() < deadline, "the ingest never started writing a build"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    # Killed mid-build: the new build's collections are there, and the pointer still names the old one.
    assert _half_written(index, good)
    answer = build_assistant(settings, embedder=real_embedder, client=index.client).ask("Is microneedling permanent?")
    assert answer.status == "answered"

    again = subprocess.run([sys.executable, "ingest.py"], cwd=PROJECT_ROOT, env=_env(settings),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    fresh = ChromaIndex(open_client(settings), settings.collection)
    info = fresh.active_build()
    assert info.build != good.build and info.files == 2 + 80
    names = {c.name for c in fresh.client.list_collections()}
    builds = {n.rsplit("__", 1)[1] for n in names if "__chunks__" in n or "__units__" in n}
    assert builds == {info.build, good.build}  # the killed run's half-written collections are gone
    assert not any("__ingest_lock__" in n for n in names)
