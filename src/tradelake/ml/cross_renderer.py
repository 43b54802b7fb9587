"""Leave-one-renderer-out (LORO) training and evaluation of the chart CNN (issue 11).

A model is only worth shipping if it reads charts drawn by software it has never seen. So
each drawing stack of :mod:`tradelake.ml.renderers` is held out in turn: a model is trained
on the other stacks' charts and scored on the held-out one. The figure that counts is the
held-out macro-F1 of every stack, not a held-out style of a seen stack.

Data are labelled folders written once by ``python -m tradelake.ml.renderers`` (one per
renderer and split, ``DIR/<split>_<renderer>/``) and reused across folds: each folder's
preprocessed arrays are cached beside it (``.cache-<h>x<w>-<fraction>.npz``), so a fold costs
only its training steps. A fold either starts from scratch or fine-tunes a checkpoint that
never saw the held-out stack (``init``); :func:`run_folds` refuses an init checkpoint whose
``train_renderers`` include the held-out one, because then the figure would not be LORO.

``python -m tradelake.ml.cross_renderer --data DIR --out DIR`` runs the folds (and the final
model on every stack with ``--final``); ``benchmarks/vision.py --cross-renderer`` prints the
table from saved fold checkpoints.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from tradelake.errors import VisionError
from tradelake.ml.charts import CLASSES
from tradelake.ml.ink import ink_map
from tradelake.ml.renderers.dataset import LABELS_CSV
from tradelake.ml.train_vision import augment, classification_report, predict_logits
from tradelake.ml.vision import (
    INPUT_KINDS,
    INPUT_SIZE,
    RIGHT_FRACTION,
    WIDTHS,
    BasicBlock,
    ChartNet,
    decode,
    fit_temperature,
    preprocess,
)

Arrays = tuple[NDArray[np.uint8], NDArray[np.int64]]
Say = Callable[[str], None]

#: Seeds of each renderer's sets: distinct per renderer and split, so no price path is drawn
#: twice (a fold would otherwise be scored on paths it trained on, in another renderer's ink).
TRAIN_SEEDS: dict[str, int] = {"pillow": 1, "svg": 2, "vega": 3, "matplotlib": 4}
EVAL_SEEDS: dict[str, int] = {"pillow": 101, "svg": 102, "vega": 103, "matplotlib": 104}
#: Charts per class of the sets the model card's LORO table was measured on (301 per renderer
#: held out; training: pillow 300, svg 150, vega and matplotlib 100, capped at 150 per fold).
EVAL_PER_CLASS = 43
TRAIN_PER_CLASS: dict[str, int] = {"pillow": 300, "svg": 150, "vega": 100, "matplotlib": 100}


# --------------------------------------------------------------------------- data


def _labelled(folder: Path) -> list[tuple[Path, int]]:
    import csv

    csv_path = folder / LABELS_CSV
    if not csv_path.is_file():
        raise VisionError(
            f"no {LABELS_CSV} in {folder}; write the set with "
            "`python -m tradelake.ml.renderers --renderer NAME --per-class N --out DIR`"
        )
    with csv_path.open(newline="") as fh:
        return [(folder / r["file"], CLASSES.index(r["label"])) for r in csv.DictReader(fh)]


def load_folder(
    folder: Path,
    size: tuple[int, int] = INPUT_SIZE,
    right_fraction: float = RIGHT_FRACTION,
    threads: int = 2,
    kind: str = "rgb",
) -> Arrays:
    """Preprocessed uint8 NHWC arrays and class indices of a labelled folder (cached).

    ``kind`` is the checkpoint's input: ``rgb`` pixels, or ``ink`` maps (one channel,
    :func:`tradelake.ml.ink.ink_map`).
    """
    tag = f"{right_fraction:g}" if kind == "rgb" else "ink"
    cache = folder / f".cache-{size[0]}x{size[1]}-{tag}.npz"
    if cache.is_file() and cache.stat().st_mtime >= (folder / LABELS_CSV).stat().st_mtime:
        with np.load(cache) as z:
            return z["x"], z["y"]
    items = _labelled(folder)

    def prep(p: Path) -> NDArray[np.uint8]:
        if kind == "ink":
            return ink_map(decode(p.read_bytes(), size), size)[..., None]
        return preprocess(decode(p.read_bytes(), size, right_fraction), size, right_fraction)

    with ThreadPoolExecutor(threads) as pool:
        x = np.stack(list(pool.map(prep, [p for p, _ in items])))
    y = np.array([c for _, c in items], np.int64)
    np.savez(cache, x=x, y=y)
    return x, y


def ensure_sets(
    data: Path,
    names: Sequence[str],
    splits: Sequence[str] = ("eval", "train"),
    workers: int = 2,
    say: Say = print,
) -> None:
    """Write any missing ``data/<split>_<renderer>/`` set with its fixed seed and size."""
    from tradelake.ml.renderers.dataset import write_dataset

    for split in splits:
        for name in names:
            folder = data / f"{split}_{name}"
            if (folder / LABELS_CSV).is_file():
                continue
            per_class = EVAL_PER_CLASS if split == "eval" else TRAIN_PER_CLASS[name]
            seed = (EVAL_SEEDS if split == "eval" else TRAIN_SEEDS)[name]
            say(f"rendering {folder} ({per_class} per class, seed {seed})")
            write_dataset(name, per_class, seed, folder, workers)


def concat(parts: Sequence[Arrays]) -> Arrays:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def cap(data: Arrays, per_class: int | None, seed: int = 0) -> Arrays:
    """At most ``per_class`` charts of each class (a seeded subset), so that no renderer
    outweighs the others in a fold's training mix."""
    if per_class is None:
        return data
    rng = np.random.default_rng(seed)
    keep = np.concatenate(
        [rng.permutation(np.flatnonzero(data[1] == c))[:per_class] for c in np.unique(data[1])]
    )
    keep.sort()
    return data[0][keep], data[1][keep]


# --------------------------------------------------------------------------- model


def load_model(
    path: Path | None, widths: Sequence[int] = WIDTHS
) -> tuple[ChartNet, dict[str, Any]]:
    """A trainable ChartNet from checkpoint ``path`` (fp32), or a fresh one when None."""
    if path is None:
        return ChartNet(len(CLASSES), widths, INPUT_SIZE), {}
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    size = tuple(ckpt["input_size"])
    channels = INPUT_KINDS[str(ckpt.get("input", "rgb"))]
    model = ChartNet(len(ckpt["classes"]), ckpt["widths"], (size[0], size[1]), in_channels=channels)
    model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
    return model, ckpt


@dataclass(frozen=True)
class FitConfig:
    """Optimiser settings of one fold. ``time_budget`` (seconds) shortens the cosine schedule
    so that the fold always finishes; ``freeze_stem`` keeps the first convolutions of a
    fine-tuned model fixed (cheaper backward pass, and their edge filters transfer)."""

    epochs: int = 4
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    time_budget: float | None = None
    freeze_stem: bool = False
    seed: int = 0


def _class_balanced_order(y: NDArray[np.int64], g: torch.Generator) -> torch.Tensor:
    """A permutation in which every class is drawn equally often (small classes repeat)."""
    per = np.bincount(y, minlength=len(CLASSES))
    target = int(per[per > 0].max())
    idx = []
    for c in np.flatnonzero(per):
        members = torch.from_numpy(np.flatnonzero(y == c))
        reps = math.ceil(target / len(members))
        pick = members.repeat(reps)[torch.randperm(len(members) * reps, generator=g)[:target]]
        idx.append(pick)
    allidx = torch.cat(idx)
    return allidx[torch.randperm(len(allidx), generator=g)]


def fit(model: ChartNet, data: Arrays, cfg: FitConfig, say: Say = print) -> list[dict[str, float]]:
    """Train ``model`` in place on ``data`` with :func:`train_vision.augment`; per-epoch log."""
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    x, y = torch.from_numpy(data[0]), data[1]
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if cfg.freeze_stem:
        for p in model.stem.parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(y) // cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    t0 = time.monotonic()
    budget = cfg.time_budget if cfg.time_budget is not None else math.inf
    history: list[dict[str, float]] = []
    step = 0
    for epoch in range(cfg.epochs):
        model.train()
        if cfg.freeze_stem:
            model.stem.eval()  # frozen BatchNorm statistics too
        order = _class_balanced_order(y, g)
        losses = []
        for i in range(min(steps_per_epoch, len(order) // cfg.batch_size)):
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            xb, yb = augment(x[idx], torch.from_numpy(y[idx.numpy()]), g)
            warm = max(1, int(0.05 * total))
            frac = min(1.0, max(0.0, (step - warm) / max(1, total - warm)))
            lr = (
                cfg.lr * (step + 1) / warm
                if step < warm
                else cfg.lr * 0.5 * (1 + math.cos(math.pi * frac))
            )
            for group in opt.param_groups:
                group["lr"] = lr
            logits, _ = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
            elapsed = time.monotonic() - t0
            if epoch == 0 and i == 19 and math.isfinite(budget):
                per_step = elapsed / 20
                fit_steps = int(0.95 * budget / per_step)
                if fit_steps < total:
                    total = max(step + 1, fit_steps)
                    say(f"  time budget: {total} steps ({per_step:.2f} s/step)")
            if step >= total:
                break
        history.append(
            {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": time.monotonic() - t0}
        )
        say(f"  epoch {epoch + 1} loss {history[-1]['loss']:.4f} t={history[-1]['seconds']:.0f}s")
        if step >= total:
            break
    for p in model.parameters():
        p.requires_grad_(True)
    return history


def score(model: ChartNet, data: Arrays, temperature: float = 1.0) -> dict[str, Any]:
    """:func:`train_vision.classification_report` of ``model`` on ``data``."""
    logits = predict_logits(model, torch.from_numpy(data[0]), batch=128)
    return classification_report(logits, torch.from_numpy(data[1]), temperature)


def save_checkpoint(
    model: ChartNet,
    path: Path,
    temperature: float,
    train_renderers: Sequence[str],
    metrics: dict[str, Any],
    version: str,
    right_fraction: float = RIGHT_FRACTION,
) -> dict[str, Any]:
    """Write an fp16 checkpoint that :meth:`ChartClassifier.load` reads."""
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    ckpt = {
        "state_dict": sd,
        "classes": list(CLASSES),
        "temperature": temperature,
        "input_size": list(INPUT_SIZE),
        "widths": [
            b.conv2.out_channels for b in list(model.body)[1::2] if isinstance(b, BasicBlock)
        ],
        "version": version,
        "right_fraction": right_fraction,
        "train_renderers": list(train_renderers),
        "metrics": metrics,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return ckpt


# --------------------------------------------------------------------------- folds


def _split_val(data: Arrays, share: float, seed: int) -> tuple[Arrays, Arrays]:
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(data[1]))
    k = max(len(CLASSES), int(share * len(idx)))
    v, t = idx[:k], idx[k:]
    return (data[0][t], data[1][t]), (data[0][v], data[1][v])


def train_on(
    renderers: Sequence[str],
    train: dict[str, Arrays],
    init: Path | None,
    cfg: FitConfig,
    say: Say = print,
) -> tuple[ChartNet, float, list[dict[str, float]]]:
    """Fit a model on ``renderers``' training sets; temperature from a 8 % validation split."""
    model, ckpt = load_model(init)
    seen = set(ckpt.get("train_renderers", ["pillow"] if ckpt else []))
    trn, val = _split_val(concat([train[r] for r in renderers]), 0.08, cfg.seed)
    say(
        f"  {len(trn[1])} training / {len(val[1])} validation charts; "
        f"init {init} (saw {sorted(seen)})"
    )
    history = fit(model, trn, cfg, say)
    # Round-trip through fp16 so that reported metrics are those of the saved weights.
    model.load_state_dict(
        {k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    )
    logits = predict_logits(model, torch.from_numpy(val[0]), batch=128)
    temperature = fit_temperature(logits, torch.from_numpy(val[1]))
    return model, temperature, history


def run_folds(
    names: Sequence[str],
    train: dict[str, Arrays],
    heldout: dict[str, Arrays],
    inits: dict[str, Path | None],
    cfgs: dict[str, FitConfig],
    out: Path,
    version: str,
    say: Say = print,
) -> dict[str, dict[str, Any]]:
    """Train one fold per held-out renderer in ``names``; save ``out/loro-<name>.pt``."""
    results: dict[str, dict[str, Any]] = {}
    everyone = sorted(train)
    for held in names:
        init = inits.get(held)
        if init is not None:
            _, ck = load_model(init)
            if held in ck.get("train_renderers", ["pillow"]):
                raise VisionError(
                    f"fold {held!r}: init checkpoint {init} was trained on {held!r}, so the fold "
                    "would not be leave-one-renderer-out; start it from scratch (no init)"
                )
        rest = [r for r in everyone if r != held]
        say(f"fold held-out={held} train={rest}")
        model, temp, history = train_on(rest, train, init, cfgs[held], say)
        rep = score(model, heldout[held], temp)
        say(f"  held-out {held}: macro-F1 {rep['macro_f1']:.4f} acc {rep['accuracy']:.4f}")
        metrics = {
            "heldout_renderer": held,
            "heldout": rep,
            "history": history,
            "temperature": temp,
        }
        seen = sorted(
            set(rest) | set(load_model(init)[1].get("train_renderers", ["pillow"]) if init else [])
        )
        save_checkpoint(model, out / f"loro-{held}.pt", temp, seen, metrics, version)
        results[held] = rep
    return results


def loro_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table: held-out renderer, macro-F1, accuracy, ECE, worst class."""
    lines = [
        "| held-out renderer | charts | macro-F1 | accuracy | ECE | weakest class (F1) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        worst = min(r["per_class_f1"].items(), key=lambda kv: kv[1])
        lines.append(
            f"| {name} | {r['n']} | {r['macro_f1']:.3f} | {r['accuracy']:.3f} | "
            f"{r['ece_after']:.3f} | {worst[0]} ({worst[1]:.2f}) |"
        )
    return "\n".join(lines)


def heldout_style(
    model: ChartNet,
    temperature: float,
    right_fraction: float,
    legacy: bool,
    per_class: int = 100,
    workers: int = 2,
    size: tuple[int, int] = INPUT_SIZE,
    kind: str = "rgb",
) -> dict[str, Any]:
    """Score on the Pillow renderer's held-out style, the first model card's test: the same
    seed as ``train_vision.train`` (700 charts), new or legacy (``legacy``) geometry."""
    from tradelake.ml.charts import LEGACY_GEOMETRY, SCREEN_GEOMETRY
    from tradelake.ml.rendering import HELD_OUT_STYLE
    from tradelake.ml.train_vision import make_dataset

    geometry = LEGACY_GEOMETRY if legacy else SCREEN_GEOMETRY
    data = make_dataset(
        per_class * len(CLASSES),
        2,
        (HELD_OUT_STYLE,),
        workers,
        size,
        geometry=geometry,
        right_fraction=right_fraction,
        kind=kind,
    )
    return score(model, data, temperature)


def assemble(final: Path, folds: Path, names: Sequence[str], out: Path, say: Say = print) -> None:
    """The checkpoint to ship: ``final`` plus its LORO table (``folds/loro-<r>.pt``) and the
    held-out-style figures (``heldout``: screen geometry, ``heldout_legacy``: the first
    model's geometry), which :mod:`tradelake.ml.registry` promotes on."""
    model, ck = load_model(final)
    loro = {}
    for name in names:
        _, fold = load_model(folds / f"loro-{name}.pt")
        if name in fold.get("train_renderers", []):
            raise VisionError(f"{folds}/loro-{name}.pt saw {name!r}: not a held-out figure")
        loro[name] = fold["metrics"]["heldout"]
    temp = float(ck["temperature"])
    rf = float(ck.get("right_fraction", RIGHT_FRACTION))
    metrics = dict(ck.get("metrics") or {})
    metrics["loro"] = loro
    metrics["heldout"] = heldout_style(model, temp, rf, legacy=False)
    metrics["heldout_legacy"] = heldout_style(model, temp, rf, legacy=True)
    say(
        f"held-out style macro-F1 {metrics['heldout']['macro_f1']:.4f} (screen geometry), "
        f"{metrics['heldout_legacy']['macro_f1']:.4f} (legacy geometry)"
    )
    say(loro_table(loro))
    save_checkpoint(model, out, temp, ck["train_renderers"], metrics, str(ck["version"]), rf)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m tradelake.ml.cross_renderer",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    ap.add_argument(
        "--data", type=Path, required=True, help="folder of train_<r>/ and eval_<r>/ sets"
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--renderers", default="pillow,matplotlib,vega,svg")
    ap.add_argument("--folds", default=None, help="held-out renderers to run (default: all)")
    ap.add_argument(
        "--init", type=Path, default=None, help="checkpoint to fine-tune where it is LORO-clean"
    )
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--scratch-epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--scratch-lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--budget", type=float, default=None, help="seconds per fine-tuned fold")
    ap.add_argument("--scratch-budget", type=float, default=None, help="seconds per scratch fold")
    ap.add_argument("--final", action="store_true", help="also train on every renderer")
    ap.add_argument("--final-budget", type=float, default=None, help="seconds for the final model")
    ap.add_argument("--max-per-class", type=int, default=None, help="per renderer and class")
    ap.add_argument("--version", default="2.0.0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--assemble",
        type=Path,
        default=None,
        help="write OUT/final.pt + its LORO table and held-out-style figures here, then stop",
    )
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    names = a.renderers.split(",")
    say: Say = lambda s: print(s, flush=True)  # noqa: E731
    if a.assemble is not None:
        assemble(a.out / "final.pt", a.out, names, a.assemble, say)
        return
    ensure_sets(a.data, names, workers=a.threads, say=say)
    train = {r: cap(load_folder(a.data / f"train_{r}"), a.max_per_class) for r in names}
    heldout = {r: load_folder(a.data / f"eval_{r}") for r in names}
    folds = [f for f in a.folds.split(",") if f] if a.folds is not None else names
    inits: dict[str, Path | None] = {}
    cfgs: dict[str, FitConfig] = {}
    for held in folds:
        clean = a.init is not None and held not in load_model(a.init)[1].get(
            "train_renderers", ["pillow"]
        )
        inits[held] = a.init if clean else None
        cfgs[held] = (
            FitConfig(a.epochs, a.batch_size, a.lr, time_budget=a.budget)
            if clean
            else FitConfig(
                a.scratch_epochs, a.batch_size, a.scratch_lr, time_budget=a.scratch_budget
            )
        )
    results = run_folds(folds, train, heldout, inits, cfgs, a.out, a.version, say) if folds else {}
    if results:
        (a.out / f"loro-{'-'.join(folds)}.json").write_text(json.dumps(results, indent=1))
        say(loro_table(results))
    if a.final:
        say(f"final model: train={names} init={a.init}")
        cfg = FitConfig(a.epochs, a.batch_size, a.lr, time_budget=a.final_budget)
        model, temp, history = train_on(names, train, a.init, cfg, say)
        seen = {r: score(model, heldout[r], temp) for r in names}
        for r, rep in seen.items():
            say(f"  {r} (seen renderer, unseen charts): macro-F1 {rep['macro_f1']:.4f}")
        metrics = {"seen_renderers": seen, "history": history, "temperature": temp}
        save_checkpoint(model, a.out / "final.pt", temp, names, metrics, a.version)


if __name__ == "__main__":
    main()
