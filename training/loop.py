"""The one training loop every learner shares: seeded, bounded in time, checkpointed, resumable.

A learner gives a torch module, a function from a batch of example groups to a loss, and the
groups; the loop shuffles the groups with a fixed seed, steps the optimiser with a linear
warm-up and decay, shows a progress bar, saves a checkpoint every ``checkpoint_every`` steps
(model, optimiser, step: written to a temporary file, then renamed, so a run killed mid-save
leaves the last good one) and stops at ``max_steps`` or at ``max_minutes``, whichever comes
first. Run again with the same output folder, it resumes from the last checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class LoopConfig:
    max_steps: int = 3000
    max_minutes: float = 60.0
    groups_per_step: int = 8
    learning_rate: float = 3e-5
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    checkpoint_every: int = 200
    seed: int = 13
    threads: int = 2


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def batches(groups: Sequence, per_step: int, seed: int, epoch: int) -> list[list]:
    """The groups in a fixed shuffled order per epoch, cut into steps."""
    order = list(range(len(groups)))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return [[groups[i] for i in order[s:s + per_step]] for s in range(0, len(order) - per_step + 1, per_step)]


def train(module, loss_fn: Callable[[list], "torch.Tensor"], groups: Sequence, config: LoopConfig, out: Path,
          parameters=None, progress: bool = True) -> dict:
    """Train ``module`` in place; returns what the run did (steps, minutes, last losses)."""
    import torch
    from tqdm import tqdm

    torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    params = [p for p in (parameters if parameters is not None else module.parameters()) if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup = max(1, int(config.warmup_share * config.max_steps))

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (config.max_steps - step) / max(1, config.max_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    step, spent, losses = 0, 0.0, []
    path = out / CHECKPOINT
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=False)
        module.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        step, spent, losses = state["step"], state["minutes"], state["losses"]
        log.warning("resuming from step %d (%.1f minutes already spent)", step, spent)
    per_epoch = max(1, len(groups) // config.groups_per_step)
    started = time.monotonic()
    module.train()
    bar = tqdm(total=config.max_steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True)
    stopped = "max_steps"
    while step < config.max_steps:
        epoch, offset = divmod(step, per_epoch)
        for batch in batches(groups, config.groups_per_step, config.seed, epoch)[offset:]:
            if step >= config.max_steps:
                break
            minutes = spent + (time.monotonic() - started) / 60
            if minutes >= config.max_minutes:
                stopped = "max_minutes"
                break
            loss = loss_fn(batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            scheduler.step()
            step += 1
            value = float(loss.detach())
            losses.append(value if math.isfinite(value) else float("nan"))
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{sum(losses[-100:]) / len(losses[-100:]):.4f}")
            if step % config.checkpoint_every == 0:
                _save(path, module, optimiser, scheduler, step, minutes, losses)
        else:
            continue
        break
    bar.close()
    minutes = spent + (time.monotonic() - started) / 60
    _save(path, module, optimiser, scheduler, step, minutes, losses)
    module.eval()
    run = {"steps": step, "minutes": round(minutes, 1), "stopped": stopped, "config": asdict(config),
           "loss_first_100": _mean(losses[:100]), "loss_last_100": _mean(losses[-100:])}
    (out / "run.json").write_text(json.dumps(run, indent=2))
    return run


def _mean(values: list[float]) -> float:
    values = [v for v in values if math.isfinite(v)]
    return round(sum(values) / len(values), 4) if values else float("nan")


def _save(path: Path, module, optimiser, scheduler, step: int, minutes: float, losses: list[float]) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save({"model": module.state_dict(), "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(), "step": step, "minutes": minutes, "losses": losses}, tmp)
    tmp.replace(path)
