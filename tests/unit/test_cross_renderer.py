"""Leave-one-renderer-out folds: data cache, class balance, the no-leak guard, the rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tradelake.errors import VisionError
from tradelake.ml import cross_renderer as cr
from tradelake.ml.charts import CLASSES
from tradelake.ml.registry import LORO_METRIC, METRIC, beats_champion, loro_score
from tradelake.ml.renderers.dataset import write_dataset
from tradelake.ml.vision import ChartClassifier


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("loro")
    for i, name in enumerate(("pillow", "svg")):
        write_dataset(name, 2, 50 + i, root / f"train_{name}")
        write_dataset(name, 1, 90 + i, root / f"eval_{name}")
    return root


def test_load_folder_preprocesses_once_and_caches(sets: Path) -> None:
    x, y = cr.load_folder(sets / "train_pillow")
    assert x.shape == (2 * len(CLASSES), 128, 288, 3) and x.dtype == np.uint8
    assert sorted(np.bincount(y)) == [2] * len(CLASSES)
    cache = next((sets / "train_pillow").glob(".cache-*.npz"))
    x2, _ = cr.load_folder(sets / "train_pillow")  # read back from the cache
    assert np.array_equal(x, x2) and cache.is_file()
    x08, _ = cr.load_folder(sets / "train_pillow", right_fraction=0.8)
    assert not np.array_equal(x, x08)  # another crop has its own cache


def test_cap_and_balanced_order() -> None:
    y = np.array([0] * 10 + [1] * 3 + [2] * 1, np.int64)
    x = np.zeros((len(y), 2, 2, 3), np.uint8)
    _, yc = cr.cap((x, y), 2)
    assert np.bincount(yc).tolist() == [2, 2, 1]
    order = cr._class_balanced_order(y, torch.Generator().manual_seed(0))
    assert np.bincount(y[order.numpy()]).tolist() == [10, 10, 10]


def test_a_fold_never_starts_from_a_model_that_saw_its_renderer(sets: Path, tmp_path: Path) -> None:
    train = {n: cr.load_folder(sets / f"train_{n}") for n in ("pillow", "svg")}
    held = {n: cr.load_folder(sets / f"eval_{n}") for n in ("pillow", "svg")}
    cfg = cr.FitConfig(epochs=1, batch_size=7)
    results = cr.run_folds(
        ["svg"], train, held, {"svg": None}, {"svg": cfg}, tmp_path, "t", say=lambda s: None
    )
    assert results["svg"]["n"] == len(CLASSES)
    ckpt = torch.load(tmp_path / "loro-svg.pt", weights_only=True)
    assert ckpt["train_renderers"] == ["pillow"] and ckpt["right_fraction"] == 1.0
    clf = ChartClassifier.load(tmp_path / "loro-svg.pt")
    assert clf.right_fraction == 1.0 and clf.classes == CLASSES
    table = cr.loro_table(results)
    assert table.splitlines()[2].startswith("| svg | 7 |")
    saw_pillow = tmp_path / "loro-svg.pt"  # trained on pillow: no init for the pillow fold
    with pytest.raises(VisionError, match="not be leave-one-renderer-out"):
        cr.run_folds(
            ["pillow"], train, held, {"pillow": saw_pillow}, {"pillow": cfg}, tmp_path, "t"
        )


def test_the_shipped_model_reads_renderers_it_never_saw(sets: Path) -> None:
    """The shipped checkpoint trained on sketches only, so every stack is new to it."""
    shipped = ChartClassifier.load()
    ckpt = torch.load(Path(cr.__file__).parent / "weights" / "chart_cnn.pt", weights_only=True)
    assert ckpt["input"] == "ink" and ckpt["train_renderers"] == []
    assert min(r["macro_f1"] for r in ckpt["metrics"]["loro"].values()) >= 0.9
    for name in ("pillow", "svg"):
        x, y = cr.load_folder(sets / f"train_{name}", (96, 256), kind="ink")
        preds = shipped.predict_arrays(x)
        acc = np.mean([CLASSES.index(p.signal) == t for p, t in zip(preds, y, strict=True)])
        assert acc >= 0.7, (name, acc)


def test_promotion_rule_uses_the_worst_held_out_renderer() -> None:
    loro = {"a": {"macro_f1": 0.95}, "b": {"macro_f1": 0.81}}
    assert loro_score({"loro": loro}) == 0.81 and loro_score({}) is None
    champ = {METRIC: 0.9, LORO_METRIC: 0.8}
    assert beats_champion({METRIC: 0.5, LORO_METRIC: 0.81}, champ)
    assert not beats_champion({METRIC: 0.99, LORO_METRIC: 0.79}, champ)
    assert not beats_champion({METRIC: 0.99}, champ)  # no LORO figure: cannot beat one
    assert beats_champion({METRIC: 0.95}, {METRIC: 0.9})  # neither has one: held-out style
    assert not beats_champion({METRIC: 0.85, LORO_METRIC: 0.99}, {METRIC: 0.9})
