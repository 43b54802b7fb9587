"""Fine-tuning the top layers of the packaged MiniLM on labelled headlines, on a CPU.

Why only the top layers, and why this is fast enough: the lower layers stay the base
model's, so their output for every text is computed once (:func:`frozen_states`, one
inference pass) and the training loop runs only the top :data:`TOP_LAYERS` layers and the head,
about half the forward cost and a third of the backward cost of full fine-tuning; and only
those layers need to ship (see :mod:`tradelake.ml.sentiment_minilm`).

Recipe (picked on an inner 80/20 split of the training part, never the held-out one): mean
pooling, dropout, a linear head; cross-entropy weighted by ``(n / (3 n_c)) ** 0.5`` (half-way
to balanced: neutral is 65% of TFNS); AdamW, linear warm-up over 6% of the steps then linear
decay; gradient norm clipped at 1. One thread by default (``torch.set_num_threads``): on a
shared two-core machine more threads spin more than they compute.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tradelake.errors import SentimentError
from tradelake.ml.sentiment_minilm import (
    HIDDEN,
    MAX_TOKENS,
    NUM_LAYERS,
    TOP_LAYERS,
    MiniLMWeights,
    clean,
    load_base,
    mean_pool,
    trained_keys,
)

VERSION = "2.0.0"


@dataclass(frozen=True)
class MiniLMConfig:
    """Fine-tuning hyper-parameters (see the module doc for how they were picked)."""

    top_layers: int = TOP_LAYERS
    epochs: int = 4
    lr: float = 1e-4
    batch_size: int = 32
    class_weight_power: float = 0.5
    dropout: float = 0.1
    max_tokens: int = MAX_TOKENS
    seed: int = 0
    threads: int = 1
    linear_weight: float = 0.4  # blend with tfns_linear (picked on the inner split)


@dataclass
class FrozenStates:
    """The output of the frozen lower layers per text (fp16, unpadded) and the base model."""

    states: list[NDArray[np.float16]]
    tokenizer: Any
    model: Any


def frozen_states(
    texts: Sequence[str], cfg: MiniLMConfig, base: tuple[Any, Any] | None = None
) -> FrozenStates:
    """Run the base model once; keep the hidden states entering the first trained layer."""
    import torch

    tokenizer, model = base if base is not None else load_base()
    k = NUM_LAYERS - cfg.top_layers
    cleaned = [clean(t) for t in texts]
    order = np.argsort([len(t) for t in cleaned], kind="stable")
    states: list[NDArray[np.float16]] = [np.zeros((0, HIDDEN), np.float16)] * len(texts)
    with torch.inference_mode():
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            enc = tokenizer(
                [cleaned[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=cfg.max_tokens,
                return_tensors="pt",
            )
            hidden = model(**enc, output_hidden_states=True).hidden_states[k]
            lengths = enc["attention_mask"].sum(1).tolist()
            for j, i in enumerate(rows):
                states[i] = hidden[j, : lengths[j]].numpy().astype(np.float16)
    return FrozenStates(states, tokenizer, model)


class TopLayers:
    """The trainable part: the base model's top layers (shared modules) and a linear head."""

    def __init__(self, model: Any, cfg: MiniLMConfig) -> None:
        import torch

        first = NUM_LAYERS - cfg.top_layers
        self.model = model
        self.layers = torch.nn.ModuleList(model.encoder.layer[first:])
        self.dropout = torch.nn.Dropout(cfg.dropout)
        self.head = torch.nn.Linear(HIDDEN, 3)
        self.top_layers = cfg.top_layers

    def parameters(self) -> list[Any]:
        return [*self.layers.parameters(), *self.head.parameters()]

    def train(self, mode: bool) -> None:
        self.layers.train(mode)
        self.dropout.train(mode)

    def logits(self, states: Sequence[NDArray[np.float16]]) -> Any:
        """Logits for a batch of frozen states (padded here, masked like the base model)."""
        import torch

        width = max(len(s) for s in states)
        hidden = torch.zeros(len(states), width, HIDDEN)
        mask = torch.zeros(len(states), width, dtype=torch.long)
        for j, s in enumerate(states):
            hidden[j, : len(s)] = torch.from_numpy(s.astype(np.float32))
            mask[j, : len(s)] = 1
        # BERT's additive mask for eager attention: 0 where attended, dtype min on padding.
        additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=additive)
        return self.head(self.dropout(mean_pool(hidden, mask)))

    def proba(self, states: Sequence[NDArray[np.float16]]) -> NDArray[np.float64]:
        import torch

        self.train(False)
        out = []
        with torch.inference_mode():
            for start in range(0, len(states), 128):
                logits = self.logits(states[start : start + 128])
                out.append(torch.softmax(logits, dim=-1).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 3))

    def weights(self, meta: dict[str, Any]) -> MiniLMWeights:
        state = self.model.state_dict()
        layers = {
            k: state[k].detach().numpy().astype(np.float32)
            for k in trained_keys(state, self.top_layers)
        }
        return MiniLMWeights(
            layers=layers,
            head_weight=self.head.weight.detach().numpy().astype(np.float32),
            head_bias=self.head.bias.detach().numpy().astype(np.float32),
            meta=meta,
        )


def fit_minilm(
    texts: Sequence[str],
    labels: NDArray[np.int64],
    cfg: MiniLMConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> MiniLMWeights:
    """Fine-tune the top layers + head on ``texts``; the returned weights are fp32 (they are
    quantised when saved)."""
    import torch

    cfg = cfg or MiniLMConfig()
    say = progress or (lambda _msg: None)
    if sorted(set(labels.tolist())) != [0, 1, 2]:
        raise SentimentError("the training data must hold all three labels 0, 1 and 2")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    frozen = frozen_states(texts, cfg)
    say(f"frozen layers over {len(texts)} texts in {time.perf_counter() - t0:.0f} s")
    top = TopLayers(frozen.model, cfg)
    counts = np.bincount(labels, minlength=3).astype(np.float64)
    class_weight = (counts.sum() / (3 * counts)) ** cfg.class_weight_power
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(class_weight, dtype=torch.float32))
    params = top.parameters()
    optimiser = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    steps = cfg.epochs * math.ceil(len(texts) / cfg.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, warmup_then_decay(steps))
    rng = np.random.default_rng(cfg.seed)
    target = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    for epoch in range(cfg.epochs):
        top.train(True)
        total = 0.0
        for batch in np.array_split(rng.permutation(len(texts)), steps // cfg.epochs or 1):
            loss = loss_fn(top.logits([frozen.states[i] for i in batch]), target[batch])
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
        say(
            f"epoch {epoch + 1}/{cfg.epochs}: loss {total / len(texts):.4f} "
            f"({time.perf_counter() - t0:.0f} s)"
        )
    meta = {
        "version": VERSION,
        "classes": ["bearish", "bullish", "neutral"],
        "top_layers": cfg.top_layers,
        "max_tokens": cfg.max_tokens,
        "linear_weight": cfg.linear_weight,
        "linear_artefact": "sentiment_tfns.npz",
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    return top.weights(meta)


def warmup_then_decay(steps: int, warmup_frac: float = 0.06) -> Callable[[int], float]:
    """Learning-rate multiplier: linear warm-up, then linear decay to 0 at ``steps``."""
    warm = max(1, int(warmup_frac * steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (steps - step) / max(1, steps - warm))

    return factor
