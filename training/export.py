"""Write a trained cross-encoder as the served relevance model: ONNX, its tokenizer, a config, a card.

Serving runs it with ONNX Runtime and the `tokenizers` package (no torch), as the embedder is
run. The export is checked against the torch model on real pairs before it is written, and the
folder is replaced whole (a half-written model is never served).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from .cross_encoder import MAX_LENGTH, encode, load

# The largest difference allowed between the torch model's logits and the exported graph's on
# the check pairs (float32 kernels differ in the order they add).
TOLERANCE = 1e-3


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export(trained: Path, target: Path, check_pairs: Sequence[tuple[str, str]], quantize: bool = False) -> dict:
    """Export ``trained`` (a cross_encoder.save folder) to ``target``; returns the config written."""
    import onnxruntime
    import torch

    model, tokenizer = load(trained)
    work = target.parent / f".{target.name}-export"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        sample = encode(tokenizer, ["how long does it take?"], ["Treatment: a session takes about an hour."])
        axes = {0: "pairs", 1: "tokens"}
        with torch.no_grad():
            torch.onnx.export(model, (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                              str(work / "raw.onnx"), input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["logits"], opset_version=17, dynamo=False,
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                            "logits": {0: "pairs"}})
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(work / "model.onnx")
        onnxruntime.InferenceSession(str(work / "raw.onnx"), options, providers=["CPUExecutionProvider"])
        (work / "raw.onnx").unlink()
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(work / "model.onnx"), str(work / "model.int8.onnx"), weight_type=QuantType.QInt8)
            (work / "model.int8.onnx").replace(work / "model.onnx")
        tokenizer.backend_tokenizer.save(str(work / "tokenizer.json"))
        difference = _check(model, tokenizer, work / "model.onnx", work / "tokenizer.json", check_pairs)
        if not quantize and difference > TOLERANCE:
            raise RuntimeError(f"the exported graph differs from the trained model by {difference:.2e}")
        config = {"kind": "cross-encoder", "max_length": MAX_LENGTH, "layers": int((trained / "layers.txt").read_text()),
                  "quantized": quantize, "max_difference_from_torch": round(difference, 6),
                  "sha256": {name: sha256(work / name) for name in ("model.onnx", "tokenizer.json")}}
        (work / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        work.replace(target)
        return config
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check(model, tokenizer, onnx_file: Path, tokenizer_file: Path, pairs: Sequence[tuple[str, str]]) -> float:
    """Largest |torch - served| logit over the pairs, the served side as serving reads it."""
    import torch

    from assistant.answer.learned import CrossEncoderModel

    served = CrossEncoderModel(onnx_file.parent, onnx_file.name, tokenizer_file.name)
    worst = 0.0
    by_question: dict[str, list[str]] = {}
    for q, p in pairs:
        by_question.setdefault(q, []).append(p)
    for q, passages in by_question.items():
        with torch.no_grad():
            expected = model(**encode(tokenizer, [q] * len(passages), passages)).numpy()
        worst = max(worst, float(np.abs(served.scores(q, passages) - expected).max()))
    return worst
