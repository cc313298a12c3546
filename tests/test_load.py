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
