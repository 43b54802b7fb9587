"""Train the ink-map chart model on sketches only, and score it on real drawing stacks.

Every chart the model trains on is a :mod:`tradelake.ml.sketch` (numpy, ~15 ms with its
verified price path), so the four real stacks of :mod:`tradelake.ml.renderers` are all
software the model has never seen: each one's score is a leave-one-renderer-out figure, with
every renderer left out at once. Training runs on the CPU (about 100 charts/s on 2 threads)
or on an accelerator when one is there.

``python -m tradelake.ml.train_sketch --out model.pt --eval-dir DIR`` builds a sketch pool
(cached as ``.npz`` under ``--pool``), trains, fits the temperature on held-out sketches,
scores every ``DIR/eval_<renderer>/`` folder, and writes the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from tradelake.ml.charts import CLASSES, MIRROR, generate_path
from tradelake.ml.ink import INK_SIZE
from tradelake.ml.vision import WIDTHS, ChartNet, fit_temperature

Say = Callable[[str], None]
_MIRROR_IDX = torch.tensor([CLASSES.index(MIRROR[c]) for c in CLASSES])
INK_VERSION = "3.0.0"


# --------------------------------------------------------------------------- the sketch pool


def _sketch_job(job: tuple[int, int, int]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    from tradelake.ml.renderers.base import random_walk_path
    from tradelake.ml.sketch import sketch

    seed, start, count = job
    maps = np.empty((count, *INK_SIZE), dtype=np.uint8)
    labels = np.empty(count, dtype=np.int64)
    for k in range(count):
        i = start + k
        rng = np.random.default_rng([seed, i])
        y = i % len(CLASSES)
        path = generate_path(rng, CLASSES[y])
        background = random_walk_path(rng) if rng.random() < 0.3 else None
        maps[k] = sketch(path, rng, INK_SIZE, background)
        labels[k] = y
    return maps, labels


def sketch_pool(
    n: int, seed: int, workers: int = 1, cache: Path | None = None, say: Say | None = None
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """``n`` class-balanced sketches ``(maps (n, h, w) uint8, labels)``, reproducible from
    ``seed`` whatever the worker count; cached at ``cache/pool-<seed>-<n>.npz``."""
    file = cache / f"pool-{seed}-{n}-{INK_SIZE[0]}x{INK_SIZE[1]}.npz" if cache else None
    if file is not None and file.is_file():
        with np.load(file) as z:
            return z["maps"], z["labels"]
    chunk = 250
    jobs = [(seed, s, min(chunk, n - s)) for s in range(0, n, chunk)]
    parts: list[tuple[NDArray[np.uint8], NDArray[np.int64]]] = []
    start = time.perf_counter()
    if workers <= 1:
        it: Any = map(_sketch_job, jobs)
    else:
        pool = mp.get_context("spawn").Pool(workers)
        it = pool.imap(_sketch_job, jobs)
    for part in it:
        parts.append(part)
        if say:
            done = sum(len(p[1]) for p in parts)
            say(f"sketches {done}/{n} ({done / (time.perf_counter() - start):.0f}/s)")
    if workers > 1:
        pool.close()
    maps = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(file, maps=maps, labels=labels)
    return maps, labels


# --------------------------------------------------------------------------- augmentation


def augment_ink(
    x: torch.Tensor, y: torch.Tensor, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, H, W) ink maps -> augmented normalised float (N, 1, H, W) and labels.

    Vertical flip with the mirrored label (a flipped double top is a double bottom), gain,
    gamma, blur, a scale/shift that keeps the right edge in view, and noise. No horizontal
    flip: the pattern must complete on the right edge.
    """
    b = x.shape[0]

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g)

    v = x[:, None].float().div_(255.0)
    flip = rand(b) < 0.5
    v = torch.where(flip[:, None, None, None], v.flip(2), v)
    y = torch.where(flip, _MIRROR_IDX[y], y)
    v = v.clamp_min(1e-4).pow(0.7 + 0.6 * rand(b, 1, 1, 1)) * (0.6 + 0.5 * rand(b, 1, 1, 1))
    blur = (rand(b) < 0.2)[:, None, None, None]
    v = torch.where(blur, F.avg_pool2d(v, 3, 1, 1, count_include_pad=False), v)
    theta = torch.zeros(b, 2, 3)
    sx = 0.88 + 0.14 * rand(b)
    sy = 0.85 + 0.25 * rand(b)
    theta[:, 0, 0], theta[:, 1, 1] = sx, sy
    theta[:, 0, 2] = (1 - sx) + 0.04 * (rand(b) - 0.5)
    theta[:, 1, 2] = 0.12 * (rand(b) - 0.5)
    grid = F.affine_grid(theta, list(v.shape), align_corners=False)
    v = F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    v = v + 0.02 * rand(b, 1, 1, 1) * torch.randn(v.shape, generator=g)
    return (v.clamp_(0.0, 1.0) * 255.0 - 127.5) / 64.0, y


def normalise_ink(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W) -> float (N, 1, H, W), as serving's ``to_tensor`` does."""
    return (x[:, None].float() - 127.5) / 64.0


@torch.no_grad()
def ink_logits(model: ChartNet, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    model.eval()
    out = [model(normalise_ink(x[i : i + batch]))[0] for i in range(0, len(x), batch)]
    return torch.cat(out) if out else torch.empty(0, len(CLASSES))


# --------------------------------------------------------------------------- training


def train(
    maps: NDArray[np.uint8],
    labels: NDArray[np.int64],
    *,
    budget_s: float,
    lr: float = 2e-3,
    batch: int = 64,
    widths: Sequence[int] = WIDTHS,
    seed: int = 0,
    init: ChartNet | None = None,
    say: Say | None = None,
    probe: Callable[[ChartNet], str] | None = None,
) -> ChartNet:
    """Train for ``budget_s`` seconds of wall time (cosine schedule over that budget)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = init if init is not None else ChartNet(len(CLASSES), widths, INK_SIZE, in_channels=1)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    x_all, y_all = torch.from_numpy(maps), torch.from_numpy(labels)
    start = time.perf_counter()
    step, seen = 0, 0
    perm = torch.randperm(len(x_all), generator=g)
    pos = 0
    last = start
    while True:
        frac = (time.perf_counter() - start) / budget_s
        if frac >= 1.0:
            break
        warm = min(1.0, step / 50)
        for group in opt.param_groups:
            group["lr"] = lr * warm * 0.5 * (1 + math.cos(math.pi * frac))
        if pos + batch > len(perm):
            perm, pos = torch.randperm(len(x_all), generator=g), 0
        idx = perm[pos : pos + batch]
        pos += batch
        xb, yb = augment_ink(x_all[idx], y_all[idx], g)
        model.train()
        logits, _ = model(xb)
        loss = F.cross_entropy(logits, yb, label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        seen += batch
        now = time.perf_counter()
        if say and now - last > 150:
            last = now
            extra = f" | {probe(model)}" if probe else ""
            say(
                f"step {step} seen {seen} ({seen / (now - start):.0f}/s) loss {loss.item():.3f}"
                f" lr {opt.param_groups[0]['lr']:.2e}{extra}"
            )
    if say:
        say(f"trained {step} steps, {seen} charts, {time.perf_counter() - start:.0f} s")
    return model


def save_checkpoint(
    model: ChartNet, path: Path, temperature: float, metrics: dict[str, Any], widths: Sequence[int]
) -> None:
    ckpt = {
        "version": INK_VERSION,
        "classes": list(CLASSES),
        "widths": list(widths),
        "input_size": list(INK_SIZE),
        "input": "ink",
        "right_fraction": 1.0,
        "temperature": float(temperature),
        "train_renderers": [],
        "metrics": metrics,
        "state_dict": {k: v.half() for k, v in model.state_dict().items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)


def load_eval(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Ink maps ``(N, H, W)`` and labels of a labelled renderer folder (cached beside it)."""
    from tradelake.ml.cross_renderer import load_folder

    x, y = load_folder(folder, INK_SIZE, kind="ink")
    return torch.from_numpy(x[..., 0]), torch.from_numpy(y)


def macro_f1(pred: torch.Tensor, y: torch.Tensor) -> float:
    f1s = []
    for c in range(len(CLASSES)):
        tp = int(((pred == c) & (y == c)).sum())
        fp = int(((pred == c) & (y != c)).sum())
        fn = int(((pred != c) & (y == c)).sum())
        f1s.append(2 * tp / max(1, 2 * tp + fp + fn))
    return float(np.mean(f1s))


def assemble(trained: Path, eval_dir: Path, out: Path, say: Say = print) -> dict[str, Any]:
    """The checkpoint to ship: ``trained`` plus the figures :mod:`ml.registry` promotes on.

    ``loro``: every ``eval_dir/eval_<renderer>/`` set, each drawn by a stack the model never
    saw (it trained on sketches only); ``heldout`` / ``heldout_legacy``: the Pillow renderer's
    held-out style in the screen and the first model's geometry (the first card's test).
    """
    from tradelake.ml import cross_renderer as cr

    model, ck = cr.load_model(trained)
    temp = float(ck["temperature"])
    metrics = dict(ck.get("metrics") or {})
    loro = {}
    for folder in sorted(eval_dir.glob("eval_*")):
        name = folder.name.removeprefix("eval_")
        loro[name] = cr.score(model, cr.load_folder(folder, INK_SIZE, kind="ink"), temp)
    metrics["loro"] = loro
    for key, legacy in (("heldout", False), ("heldout_legacy", True)):
        metrics[key] = cr.heldout_style(model, temp, 1.0, legacy, size=INK_SIZE, kind="ink")
    say(cr.loro_table(loro))
    say(
        f"held-out style macro-F1 {metrics['heldout']['macro_f1']:.4f} (screen geometry), "
        f"{metrics['heldout_legacy']['macro_f1']:.4f} (legacy geometry)"
    )
    save_checkpoint(model, out, temp, metrics, ck["widths"])
    return metrics


def card_tables(metrics: dict[str, Any]) -> str:
    """The model card's measured part, from a checkpoint's metrics: the leave-one-renderer-out
    table, per-class F1 per renderer, each renderer's confusion matrix, the held-out style."""
    from tradelake.ml.cross_renderer import loro_table

    loro: dict[str, dict[str, Any]] = metrics["loro"]
    names = list(loro)
    out = [loro_table(loro), "", "Per-class F1 on each renderer:", ""]
    out.append("| class | " + " | ".join(names) + " |")
    out.append("| --- |" + " --- |" * len(names))
    for c in CLASSES:
        out.append(
            f"| {c} | " + " | ".join(f"{loro[n]['per_class_f1'][c]:.2f}" for n in names) + " |"
        )
    short = [c[:8] for c in CLASSES]
    for n in names:
        out += ["", f"**{n}** (rows true, columns predicted):", ""]
        out.append("| true \\ pred | " + " | ".join(short) + " |")
        out.append("| --- |" + " --- |" * len(CLASSES))
        for c, row in zip(CLASSES, loro[n]["confusion"], strict=True):
            out.append(f"| {c} | " + " | ".join(str(int(v)) for v in row) + " |")
    out += ["", "Pillow renderer's held-out style (700 charts, the first card's test):", ""]
    out.append("| geometry | macro-F1 | accuracy | ECE |")
    out.append("| --- | --- | --- | --- |")
    for key, label in (("heldout", "screen (`SCREEN_GEOMETRY`)"), ("heldout_legacy", "legacy")):
        r = metrics[key]
        out.append(
            f"| {label} | {r['macro_f1']:.4f} | {r['accuracy']:.4f} | {r['ece_after']:.3f} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tradelake.ml.train_sketch", description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pool", type=Path, default=Path(".sketch-pool"))
    ap.add_argument("--n", type=int, default=28000, help="sketches in the training pool")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget", type=float, default=1800.0, help="training seconds")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-dir", type=Path, help="folder holding eval_<renderer>/ sets")
    ap.add_argument("--init", type=Path, help="continue from this ink checkpoint")
    ap.add_argument(
        "--card", action="store_true", help="print the model card tables of --out and stop"
    )
    ap.add_argument(
        "--assemble",
        type=Path,
        help="score this trained checkpoint on every --eval-dir set and the held-out style, "
        "write it with those figures to --out, and stop",
    )
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    def say(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    if a.card:
        ck = torch.load(a.out, map_location="cpu", weights_only=True)
        print(card_tables(ck["metrics"]))
        return
    if a.assemble is not None:
        if a.eval_dir is None:
            ap.error("--assemble needs --eval-dir")
        assemble(a.assemble, a.eval_dir, a.out, say)
        return

    maps, labels = sketch_pool(a.n, a.seed, a.workers, a.pool, say)
    cal_x, cal_y = sketch_pool(1400, a.seed + 1000, a.workers, a.pool, say)
    evals: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if a.eval_dir:
        for folder in sorted(a.eval_dir.glob("eval_*")):
            if not (folder / "labels.csv").is_file():
                continue
            evals[folder.name.removeprefix("eval_")] = load_eval(folder)

    def probe(model: ChartNet) -> str:
        parts = []
        for name, (x, y) in evals.items():
            parts.append(f"{name} {macro_f1(ink_logits(model, x).argmax(1), y):.3f}")
        return " ".join(parts)

    init = None
    if a.init:
        ck = torch.load(a.init, map_location="cpu", weights_only=True)
        init = ChartNet(len(CLASSES), ck["widths"], INK_SIZE, in_channels=1)
        init.load_state_dict({k: v.float() for k, v in ck["state_dict"].items()})
    model = train(maps, labels, budget_s=a.budget, lr=a.lr, say=say, probe=probe, init=init)
    cal_logits = ink_logits(model, torch.from_numpy(cal_x))
    t = fit_temperature(cal_logits, torch.from_numpy(cal_y))
    metrics: dict[str, Any] = {
        "sketch_macro_f1": macro_f1(cal_logits.argmax(1), torch.from_numpy(cal_y))
    }
    for name, (x, y) in evals.items():
        metrics[f"unseen_{name}_macro_f1"] = macro_f1(ink_logits(model, x).argmax(1), y)
    say(json.dumps(metrics))
    save_checkpoint(model, a.out, t, metrics, WIDTHS)


if __name__ == "__main__":
    main()
