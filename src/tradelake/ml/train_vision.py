"""Reproducible training of the chart-pattern CNN on synthetic screenshots.

Pipeline: render a balanced training set from the training renderer styles (in parallel,
every chunk seeded from ``seed`` so the data do not depend on the worker count), train
with heavy on-device augmentation (vertical flips with mirrored labels, colour
permutation/inversion/greyscale, contrast, blur, small affine, noise), fit a temperature
on a validation split of the training styles, then evaluate on 700 charts (100 per class)
drawn in ``HELD_OUT_STYLE``, which training never sees. The checkpoint stores fp16
weights, class names, temperature, input size, version and all metrics.

``--time-budget`` bounds the whole run: data generation stops at ~45 % of it and the
learning-rate schedule is shortened after the first epoch if the epochs would not fit,
so a checkpoint is always written. Run ``python -m tradelake.ml.train_vision --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from tradelake.ml import evaluation
from tradelake.ml.charts import CLASSES, MIRROR, SCREEN_GEOMETRY, Geometry, generate_chart
from tradelake.ml.ink import ink_map
from tradelake.ml.rendering import HELD_OUT_STYLE, TRAIN_STYLES
from tradelake.ml.vision import (
    INPUT_KINDS,
    INPUT_SIZE,
    RIGHT_FRACTION,
    WIDTHS,
    ChartNet,
    fit_temperature,
    preprocess,
)

VERSION = "1.0.0"
CHUNK = 48


@dataclass
class TrainResult:
    """What :func:`train` produced; ``checkpoint`` is exactly what was (or would be) saved."""

    checkpoint: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    path: Path | None = None


# --------------------------------------------------------------------------- data


def _render_chunk(
    job: tuple[Any, list[str], tuple[str, ...], tuple[int, int], Geometry, float, str],
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    seed, labels, styles, size, geometry, right_fraction, kind = job
    rng = np.random.default_rng(seed)
    xs = np.empty((len(labels), size[0], size[1], INPUT_KINDS[kind]), np.uint8)
    for i, lab in enumerate(labels):
        style = str(rng.choice(styles))
        img = generate_chart(rng, lab, style, geometry).image
        if kind == "ink":
            xs[i, ..., 0] = ink_map(img, size)
        else:
            xs[i] = preprocess(img, size, right_fraction)
    return xs, np.array([CLASSES.index(lab) for lab in labels], np.int64)


def make_dataset(
    n: int,
    seed: int,
    styles: Sequence[str] = TRAIN_STYLES,
    workers: int = 1,
    size: tuple[int, int] = INPUT_SIZE,
    deadline: float | None = None,
    geometry: Geometry = SCREEN_GEOMETRY,
    right_fraction: float = RIGHT_FRACTION,
    kind: str = "rgb",
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """``n`` preprocessed charts, classes balanced and shuffled, deterministic in ``seed``.

    ``kind`` is the model input (``rgb`` pixels or ``ink`` maps, see ``vision.INPUT_KINDS``).

    Stops early (keeping whole chunks) once ``time.monotonic()`` passes ``deadline``.
    ``geometry=LEGACY_GEOMETRY, right_fraction=0.8`` redraws the first model's held-out set.
    """
    rng = np.random.default_rng(seed)
    labels = [CLASSES[i % len(CLASSES)] for i in range(n)]
    rng.shuffle(labels)
    seeds = np.random.SeedSequence(seed).spawn(math.ceil(n / CHUNK))
    jobs = [
        (
            s,
            labels[i * CHUNK : (i + 1) * CHUNK],
            tuple(styles),
            size,
            geometry,
            right_fraction,
            kind,
        )
        for i, s in enumerate(seeds)
    ]
    parts: list[tuple[NDArray[np.uint8], NDArray[np.int64]]] = []
    if workers <= 1:
        for job in jobs:
            parts.append(_render_chunk(job))
            if deadline is not None and time.monotonic() > deadline:
                break
    else:
        ctx = mp.get_context("fork")
        with ctx.Pool(workers) as pool:
            for part in pool.imap(_render_chunk, jobs):
                parts.append(part)
                if deadline is not None and time.monotonic() > deadline:
                    pool.terminate()
                    break
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# --------------------------------------------------------------------------- augmentation

_MIRROR_IDX = torch.tensor([CLASSES.index(MIRROR[c]) for c in CLASSES])


def augment(
    x: torch.Tensor,
    y: torch.Tensor,
    g: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 NHWC batch -> augmented, normalised float NCHW (channels_last) and labels."""
    dev = x.device
    b = x.shape[0]

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g, device=dev)

    v = x.permute(0, 3, 1, 2).float().div_(255.0)
    flip = rand(b) < 0.5
    v = torch.where(flip[:, None, None, None], v.flip(2), v)
    y = torch.where(flip, _MIRROR_IDX.to(dev)[y], y)
    perm = torch.argsort(rand(b, 3), dim=1)
    v = torch.gather(v, 1, perm[:, :, None, None].expand_as(v))
    grey = (rand(b) < 0.2)[:, None, None, None]
    v = torch.where(grey, v.mean(1, keepdim=True).expand_as(v), v)
    inv = (rand(b) < 0.2)[:, None, None, None]
    v = torch.where(inv, 1.0 - v, v)
    contrast = 0.6 + 0.8 * rand(b, 1, 1, 1)
    v = (v - 0.5) * contrast + 0.5 + 0.2 * (rand(b, 1, 1, 1) - 0.5)
    blur = (rand(b) < 0.25)[:, None, None, None]
    v = torch.where(blur, F.avg_pool2d(v, 3, 1, 1, count_include_pad=False), v)
    theta = torch.zeros(b, 2, 3, device=dev)
    sx = 0.9 + 0.15 * rand(b)
    sy = 0.85 + 0.25 * rand(b)
    theta[:, 0, 0], theta[:, 1, 1] = sx, sy
    theta[:, 0, 2] = (1 - sx) + 0.06 * (rand(b) - 0.5)  # keep the right edge in view
    theta[:, 1, 2] = 0.12 * (rand(b) - 0.5)
    grid = F.affine_grid(theta, list(v.shape), align_corners=False)
    v = F.grid_sample(v, grid, mode="bilinear", padding_mode="border", align_corners=False)
    v = v + 0.04 * rand(b, 1, 1, 1) * torch.randn(v.shape, generator=g, device=dev)
    v = (v.clamp_(0.0, 1.0) * 255.0 - 127.5) / 64.0
    return v.contiguous(memory_format=torch.channels_last), y


def normalise(x: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC -> float NCHW channels_last, identical to serving's ``to_tensor``."""
    v = x.permute(0, 3, 1, 2).float().sub_(127.5).div_(64.0)
    return v.contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- metrics


@torch.no_grad()
def predict_logits(model: ChartNet, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Eval-mode fp32 logits for a uint8 NHWC tensor (on the model's device)."""
    model.eval()
    out = [model(normalise(x[i : i + batch]))[0].float().cpu() for i in range(0, len(x), batch)]
    return torch.cat(out) if out else torch.empty(0, len(CLASSES))


def classification_report(
    logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class F1, confusion matrix and ECE before/after scaling
    (the maths is :mod:`tradelake.ml.evaluation`'s)."""
    y = labels.numpy().astype(np.int64)
    p_raw = torch.softmax(logits.double(), 1).numpy()
    p_cal = torch.softmax(logits.double() / temperature, 1).numpy()
    rep = evaluation.evaluate(y, p_raw, CLASSES)
    return {
        "n": rep.n,
        "accuracy": rep.accuracy,
        "macro_f1": rep.macro_f1,
        "per_class_f1": {m.name: round(m.f1, 4) for m in rep.per_class},
        "confusion": rep.confusion,
        "ece_before": rep.ece,
        "ece_after": evaluation.expected_calibration_error(p_cal, y),
    }


# --------------------------------------------------------------------------- training


def _lr_at(step: int, total: int, peak: float) -> float:
    warm = max(1, int(0.03 * total))
    if step < warm:
        return peak * (step + 1) / warm
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def train(
    epochs: int = 10,
    n_train: int = 2000,
    seed: int = 0,
    device: str = "cpu",
    *,
    n_val: int | None = None,
    n_test_per_class: int = 100,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 0.05,
    workers: int | None = None,
    time_budget: float | None = None,
    widths: Sequence[int] = WIDTHS,
    gen_fraction: float = 0.45,
    input_size: tuple[int, int] = INPUT_SIZE,
    out: str | Path | None = None,
    log: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Generate data, train, calibrate, evaluate on the held-out style; save to ``out``.

    Deterministic for a given ``seed`` and device when ``time_budget`` does not bind
    (CUDA kernels aside). ``n_val`` defaults to 5 % of ``n_train`` (at least 70).
    ``on_epoch`` receives each epoch's ``history`` row (for progress bars).
    """
    t0 = time.monotonic()
    budget = time_budget if time_budget is not None else float("inf")
    workers = workers if workers is not None else max(1, (os.cpu_count() or 2) - 1)
    torch.manual_seed(seed)
    say = print if log else (lambda *a, **k: None)
    n_val = n_val if n_val is not None else max(70, n_train // 20)

    xv, yv = make_dataset(n_val, seed + 1, TRAIN_STYLES, workers, input_size)
    xt, yt = make_dataset(
        n_test_per_class * len(CLASSES), seed + 2, (HELD_OUT_STYLE,), workers, input_size
    )
    xtr, ytr = make_dataset(
        n_train, seed, TRAIN_STYLES, workers, input_size, deadline=t0 + gen_fraction * budget
    )
    gen_s = time.monotonic() - t0
    say(f"generated train={len(xtr)} val={len(xv)} test={len(xt)} in {gen_s:.0f}s", flush=True)

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    torch.backends.cudnn.benchmark = cuda
    model = ChartNet(len(CLASSES), widths, input_size).to(dev)
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    x_tr = torch.from_numpy(xtr).to(dev)
    y_tr = torch.from_numpy(ytr).to(dev)
    g = torch.Generator(device=dev).manual_seed(seed)
    g_cpu = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(x_tr) // batch_size)
    total = epochs * steps_per_epoch
    history: list[dict[str, float]] = []
    step = 0
    mark_step, mark_t, epoch_t = min(20, steps_per_epoch // 2), time.monotonic(), 0.0
    stop = False
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x_tr), generator=g_cpu).to(dev)
        losses = []
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            xb, yb = augment(x_tr[idx], y_tr[idx], g)
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, total, lr)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
                logits, _ = model(xb)
                loss = F.cross_entropy(logits.float(), yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            step += 1
            if step == mark_step:  # excludes cuDNN autotuning from the estimate
                mark_t = time.monotonic()
            if time.monotonic() - t0 > 0.9 * budget:
                stop = True
                break
        mean_loss = float(torch.stack(losses).mean())  # waits for the GPU
        epoch_t = time.monotonic()
        vacc = float(
            (predict_logits(model, torch.from_numpy(xv).to(dev)).argmax(1).numpy() == yv).mean()
        )
        history.append(
            {
                "epoch": epoch + 1,
                "loss": mean_loss,
                "val_acc": vacc,
                "seconds": time.monotonic() - t0,
            }
        )
        if on_epoch is not None:
            on_epoch(history[-1])
        say(
            f"epoch {epoch + 1} loss {mean_loss:.4f} val_acc {vacc:.4f} "
            f"t={time.monotonic() - t0:.0f}s",
            flush=True,
        )
        if epoch == 0 and math.isfinite(budget):
            per_step = (epoch_t - mark_t) / max(1, step - mark_step)
            per_epoch = per_step * steps_per_epoch + (time.monotonic() - epoch_t)
            fit = max(1, int((0.88 * budget - (time.monotonic() - t0)) / per_epoch) + 1)
            if fit < epochs:
                total = max(step, fit * steps_per_epoch)
                say(f"time budget: shortening schedule to {fit} epochs", flush=True)
        if stop or step >= total:
            break

    # Round-trip through fp16 so that reported metrics are those of the shipped weights.
    sd = {
        k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()
    }
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    base: dict[str, Any] = {
        "state_dict": sd,
        "classes": list(CLASSES),
        "temperature": 1.0,
        "input_size": list(input_size),
        "widths": list(widths),
        "version": VERSION,
        "right_fraction": RIGHT_FRACTION,
        "train_renderers": ["pillow"],
        "metrics": {},
    }
    if out is not None:  # an uncalibrated checkpoint survives a failure in evaluation
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        torch.save(base, Path(out))
    if cuda:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    lv = predict_logits(model, torch.from_numpy(xv).to(dev))
    temperature = fit_temperature(lv, torch.from_numpy(yv))
    lt = predict_logits(model, torch.from_numpy(xt).to(dev))
    metrics: dict[str, Any] = {
        "heldout_style": HELD_OUT_STYLE,
        "train_styles": list(TRAIN_STYLES),
        "temperature": temperature,
        "val": classification_report(lv, torch.from_numpy(yv), temperature),
        "heldout": classification_report(lt, torch.from_numpy(yt), temperature),
        "n_train": len(xtr),
        "epochs_done": len(history),
        "steps": step,
        "widths": list(widths),
        "seed": seed,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "gen_seconds": round(gen_s, 1),
        "total_seconds": round(time.monotonic() - t0, 1),
        "device": torch.cuda.get_device_name(dev) if cuda else "cpu",
    }
    ckpt = {**base, "temperature": temperature, "metrics": metrics}
    path = None
    if out is not None:
        path = Path(out)
        torch.save(ckpt, path)
    say(
        json.dumps(
            {k: metrics["heldout"][k] for k in ("accuracy", "macro_f1", "ece_before", "ece_after")}
        ),
        flush=True,
    )
    return TrainResult(ckpt, metrics, history, path)


def model_card(metrics: dict[str, Any], latency: str = "see benchmarks/vision.py") -> str:
    """Markdown model card from a checkpoint's metrics."""
    ho, va = metrics["heldout"], metrics["val"]
    wtxt = "-".join(str(w) for w in metrics.get("widths", WIDTHS))
    rows = "\n".join(
        f"| {c} | {ho['per_class_f1'][c]:.3f} | {va['per_class_f1'][c]:.3f} |" for c in CLASSES
    )
    cm = "\n".join(
        "| " + c + " | " + " | ".join(str(v) for v in r) + " |"
        for c, r in zip(CLASSES, ho["confusion"], strict=True)
    )
    return f"""# chart_cnn {VERSION}

Classifies the chart pattern that completes on the right edge of a trading-chart screenshot
into {", ".join(CLASSES)}; returns a temperature-calibrated probability and a 128-d
L2-normalised embedding.

## Data
Synthetic only: random-walk price paths with a pattern completing on the last 1-3 bars,
each verified by the geometric detector `tradelake.ml.charts.detect_patterns`, rendered by
`tradelake.ml.rendering` with Pillow. Training styles: {", ".join(metrics["train_styles"])}
({metrics["n_train"]} charts, balanced). `none` includes hard negatives: patterns cut
before their break, failed breaks, patterns broken long ago, ranges and random walks.
Evaluation: {ho["n"]} charts (100 per class) in the `{metrics["heldout_style"]}` style,
whose conventions (gradient background, dotted grid, watermark, HLC bars, outlined
candles, Bollinger shading, crosshair, left axis) never appear in training.

## Recipe
ResNet-18 layout, widths {wtxt}, input 128x288 (right 80 % of the trimmed chart),
height-pooled position-aware head, cosine classifier; AdamW lr {metrics["lr"]}, weight
decay {metrics["weight_decay"]}, batch {metrics["batch_size"]}, {metrics["epochs_done"]}
epochs ({metrics["steps"]} steps), cosine schedule, label smoothing 0.05, bf16 autocast;
augmentation: vertical flip with mirrored label, channel permutation, inversion,
greyscale, contrast/brightness, blur, small affine, noise. Seed {metrics["seed"]};
trained on {metrics["device"]} in {metrics["total_seconds"]} s. Weights stored fp16.
Temperature T = {metrics["temperature"]:.3f} fitted on {va["n"]} training-style charts.

## Metrics (held-out style, {ho["n"]} charts)
- accuracy {ho["accuracy"]:.4f}, **macro-F1 {ho["macro_f1"]:.4f}**
- ECE {ho["ece_before"]:.4f} before / {ho["ece_after"]:.4f} after temperature scaling
- training-style validation: accuracy {va["accuracy"]:.4f}, macro-F1 {va["macro_f1"]:.4f},
  ECE {va["ece_before"]:.4f} / {va["ece_after"]:.4f}

| class | F1 held-out | F1 validation |
| --- | --- | --- |
{rows}

Confusion matrix (held-out; rows true, columns predicted, order as above):

| true \\ pred | {" | ".join(c[:8] for c in CLASSES)} |
| --- |{" --- |" * len(CLASSES)}
{cm}

## Latency
{latency}

## Limits
Trained on synthetic renderings only; real screenshots with very different layouts
(multiple panes of indicators, drawings, heavy annotations) may score lower. Only the
right ~80 % of the plot is looked at; a pattern must complete on the last bars.
"""


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--n-train", type=int, default=60000)
    ap.add_argument("--n-val", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    ap.add_argument(
        "--gen-fraction",
        type=float,
        default=0.45,
        help="share of --time-budget spent rendering training data",
    )
    ap.add_argument("--time-budget", type=float, default=None, help="seconds for the whole run")
    ap.add_argument("--out", default="chart_cnn.pt")
    ap.add_argument("--metrics-json", default=None)
    ap.add_argument("--model-card", default=None)
    a = ap.parse_args(argv)
    res = train(
        a.epochs,
        a.n_train,
        a.seed,
        a.device,
        n_val=a.n_val,
        batch_size=a.batch_size,
        lr=a.lr,
        workers=a.workers,
        time_budget=a.time_budget,
        out=a.out,
        widths=tuple(int(w) for w in a.widths.split(",")),
        gen_fraction=a.gen_fraction,
    )
    if a.metrics_json:
        Path(a.metrics_json).write_text(
            json.dumps({**res.metrics, "history": res.history}, indent=1)
        )
    if a.model_card:
        Path(a.model_card).write_text(model_card(res.metrics))


if __name__ == "__main__":
    main()
