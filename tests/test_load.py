from evals.load import burst, markdown


def test_burst_counts_latencies_and_errors():
    calls = []

    def send(question):
        calls.append(question)
        if question == "bad":
            raise RuntimeError("boom")

    result = burst(send, ["a", "b", "bad", "c"], total=8, concurrency=3)
    assert len(calls) == 8 and result["requests"] == 8 and result["errors"] == 2
    assert "boom" in result["first_errors"][0] and result["throughput_rps"] > 0
    assert result["median_ms"] >= 0 and result["p95_ms"] >= result["median_ms"]


def test_load_report_table():
    part = {"requests": 2000, "concurrency": 32, "throughput_rps": 50.0, "median_ms": 600.0, "p95_ms": 900.0, "errors": 0}
    text = markdown({"api": part, "api_distinct": part | {"throughput_rps": 20.0}, "gradio": part | {"errors": 1},
                     "memory_before_mb": 700.0, "memory_after_api_mb": 710.0, "memory_after_mb": 735.0})
    assert "| POST /api/ask, repeated questions | 50 req/s | 600 ms | 900 ms | 0 |" in text
    assert "| POST /api/ask, distinct questions never asked before | 20 req/s | 600 ms | 900 ms | 0 |" in text
    assert "| Gradio /chat (gradio_client) | 50 req/s | 600 ms | 900 ms | 1 |" in text
    assert "(+5.0%; aim: under +10%)" in text


def test_load_report_puts_the_reference_run_beside():
    part = {"requests": 2000, "concurrency": 32, "throughput_rps": 50.0, "median_ms": 600.0, "p95_ms": 900.0, "errors": 0}
    memory = {"memory_before_mb": 400.0, "memory_after_api_mb": 410.0, "memory_after_mb": 420.0}
    reference = {"api": part, "api_distinct": part | {"throughput_rps": 25.0}, "ready_s": 10.3, "ready_rss_mb": 721.0,
                 "memory_before_mb": 737.0, "memory_after_api_mb": 771.0, "memory_after_mb": 771.0}
    text = markdown({"api": part, "api_distinct": part | {"throughput_rps": 33.0}, "ready_s": 4.7,
                     "ready_rss_mb": 339.0, "reference": reference} | memory)
    assert ("| POST /api/ask, distinct questions never asked before, reference model (torch), same run "
            "| 25 req/s | 600 ms | 900 ms | 0 |") in text
    assert "Process start to a ready /healthz: 4.7 s (339 MB)." in text
    assert "Reference model, same run: ready in 10.3 s (721 MB); 737 MB before, 771 MB after the API bursts." in text
