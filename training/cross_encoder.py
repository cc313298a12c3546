"""A cross-encoder: question and passage read together by the encoder, one relevance logit out.

Starts from the shipped all-MiniLM-L6-v2 weights (the first ``layers`` of its six), pools the
last hidden state by the mean under the attention mask, as the model was trained to, and puts
a linear head on it; every weight is trained. The loss is pointwise (binary cross-entropy on
every pair: the score must mean the same on every question, or it cannot decide a refusal)
plus listwise (softmax over a question's passages: its answer first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .data import Example

MAX_LENGTH = 128  # question and passage together: our units are one to three sentences


def build_model(model_path: str, layers: int = 6):
    import torch
    from transformers import AutoConfig, AutoModel

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            config = AutoConfig.from_pretrained(model_path)
            config.num_hidden_layers = layers
            self.encoder = AutoModel.from_pretrained(model_path, config=config, add_pooling_layer=False)
            self.head = torch.nn.Linear(config.hidden_size, 1)
            torch.nn.init.normal_(self.head.weight, std=0.02)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    return CrossEncoder()


def tokenizer_for(model_path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


def encode(tokenizer, questions: Sequence[str], passages: Sequence[str], max_length: int = MAX_LENGTH):
    return tokenizer(list(questions), list(passages), truncation="longest_first", max_length=max_length,
                     padding=True, return_tensors="pt")


def loss_function(model, tokenizer, listwise_weight: float = 1.0):
    import torch
    import torch.nn.functional as F

    def loss(batch: list[list[Example]]):
        flat = [e for group in batch for e in group]
        inputs = encode(tokenizer, [e.question for e in flat], [e.passage for e in flat])
        logits = model(**inputs)
        labels = torch.tensor([float(e.label) for e in flat])
        total = F.binary_cross_entropy_with_logits(logits, labels)
        at, listwise, counted = 0, logits.new_zeros(()), 0
        for group in batch:
            n = len(group)
            own, own_labels = logits[at:at + n], labels[at:at + n]
            at += n
            if own_labels.sum() > 0 and n > 1:
                listwise = listwise - (torch.logsumexp(own[own_labels > 0], 0) - torch.logsumexp(own, 0))
                counted += 1
        if counted:
            total = total + listwise_weight * listwise / counted
        return total

    return loss


def scorer(model, tokenizer, batch_size: int = 64):
    """(question, passages) -> logits, for evaluation."""
    import torch

    def score(question: str, passages: Sequence[str]) -> list[float]:
        out = []
        with torch.no_grad():
            for s in range(0, len(passages), batch_size):
                part = passages[s:s + batch_size]
                out += model(**encode(tokenizer, [question] * len(part), part)).tolist()
        return out

    return score


def save(model, tokenizer, folder: Path, layers: int) -> None:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "weights.pt")
    tokenizer.save_pretrained(folder)
    (folder / "layers.txt").write_text(str(layers))


def train(model_path: str, groups: list[list[Example]], config, out: Path, layers: int = 6) -> dict:
    from .loop import seed_everything, train as run

    seed_everything(config.seed)
    tokenizer = tokenizer_for(model_path)
    model = build_model(model_path, layers)
    result = run(model, loss_function(model, tokenizer), groups, config, out)
    save(model, tokenizer, out / "model", layers)
    return result


def load(folder: Path):
    """A saved cross-encoder (``save``) for evaluation or export: (model, tokenizer)."""
    import torch

    layers = int((folder / "layers.txt").read_text())
    tokenizer = tokenizer_for(str(folder))
    from assistant.settings import Settings

    model = build_model(Settings.from_env().model_path, layers)
    model.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu"))
    return model.eval(), tokenizer


def load_scorer(folder: Path):
    return scorer(*load(folder))
