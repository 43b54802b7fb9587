"""Latency/throughput of the chart classifier and the embedding search, with baselines.

Run: ``python benchmarks/vision.py`` (uses the shipped checkpoint, 2 torch threads).
Prints each figure next to its target and the speed-up over a naive baseline measured in
the same run: Lanczos resize of the full decoded image with the default (NCHW) memory
layout for the model, a full JPEG decode (no ``Image.draft``) for JPEG input, a float64
brute-force full sort for the search, and the same call with its cache deleted for the
feature-store search (``tradelake vision similar``; ``--store-rows 0`` skips it).

``--cross-renderer --folds DIR`` prints the leave-one-renderer-out table instead: each
``DIR/loro-<renderer>.pt`` (written by ``python -m tradelake.ml.cross_renderer``, trained
without that renderer) scored on that renderer's held-out set (``--data``, rendered with the
fixed seeds if missing), next to a baseline on the same charts: ``--baseline PATH``, by
default the shipped checkpoint. The model card's baseline is the first shipped model
(Pillow renderer only): ``git show 138de3b:src/tradelake/ml/weights/chart_cnn.pt > v1.pt``.
A checkpoint trained on no renderer (``train_renderers`` empty, the shipped 3.x) is scored on
every renderer directly: each is software it never saw.

``--stress --data DIR [--baseline PATH]`` scores the model (and the baseline) on those eval
sets re-encoded as other screens would hand them over: JPEG q35, a capture at 55 % size, the
inverted theme, a gradient background.
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import torch
from PIL import Image

from tradelake.features import FeatureStore, catalog
from tradelake.features.embeddings import cache_dir
from tradelake.jobs.vision import similar_setups
from tradelake.ml.charts import CLASSES, generate_chart
from tradelake.ml.ink import ink_of
from tradelake.ml.similarity import EmbeddingIndex
from tradelake.ml.vision import WEIGHTS, ChartClassifier, ChartNet, decode
from tradelake.staging import StagingWriter

W, H = 1280, 720


def _pngs(n: int, seed: int = 0, fmt: str = "PNG") -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = generate_chart(rng, CLASSES[i % len(CLASSES)]).image.resize((W, H))
        buf = io.BytesIO()
        img.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        out.append(buf.getvalue())
    return out


def _times(fn: Callable[[], object], runs: int, warmup: int = 10) -> np.ndarray:
    for _ in range(warmup):
        fn()
    t = np.empty(runs)
    for i in range(runs):
        s = time.perf_counter()
        fn()
        t[i] = time.perf_counter() - s
    return t * 1000.0


def _naive(clf: ChartClassifier) -> tuple[ChartNet, Callable[[list[bytes]], torch.Tensor]]:
    raw = ChartClassifier.load(fuse=False).model  # same weights, BatchNorm not folded
    model = raw.eval().to(memory_format=torch.contiguous_format)
    h, w = clf.input_size

    def naive_prep(b: bytes) -> np.ndarray:
        img = decode(b)
        if clf.input_kind == "ink":  # ink of the full-size screenshot, then Lanczos
            img = Image.fromarray(ink_of(np.asarray(img)))
        arr = np.asarray(img.resize((w, h), Image.Resampling.LANCZOS))
        return arr if arr.ndim == 3 else arr[..., None]

    @torch.inference_mode()
    def run(blobs: list[bytes]) -> torch.Tensor:
        arrs = [naive_prep(b) for b in blobs]
        x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float().sub(127.5).div(64.0)
        return torch.softmax(model(x.contiguous())[0] / clf.temperature, 1)

    return model, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--n-embeddings", type=int, default=1_000_000)
    ap.add_argument("--store-rows", type=int, default=1_000_000)
    ap.add_argument("--cross-renderer", action="store_true", help="print the LORO table")
    ap.add_argument("--folds", type=Path, default=Path("loro"), help="loro-<renderer>.pt folder")
    ap.add_argument("--data", type=Path, default=Path("loro-data"), help="eval_<renderer>/ sets")
    ap.add_argument("--baseline", type=Path, default=None, help="checkpoint to compare against")
    ap.add_argument(
        "--model",
        type=Path,
        default=WEIGHTS,
        help="checkpoint scored on every renderer it never saw (default: the shipped one)",
    )
    ap.add_argument(
        "--stress",
        action="store_true",
        help="macro-F1 of --model and --baseline on the --data eval sets, re-encoded as another "
        "screen would give them (JPEG, small capture, inverted theme, gradient background)",
    )
    a = ap.parse_args()
    torch.set_num_threads(2)
    if a.stress:
        _stress(a.data, a.model, a.baseline)
        return
    if a.cross_renderer:
        _cross_renderer(a.folds, a.data, a.baseline, a.model)
        return
    clf = ChartClassifier.load()
    blobs = _pngs(64)
    print(
        f"model {clf.model_version}; torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}; input {W}x{H} PNG ({len(blobs[0]) // 1024} KiB)"
    )

    single = _times(lambda: clf.predict([blobs[0]]), a.runs)
    _, naive = _naive(clf)
    base = _times(lambda: naive([blobs[0]]), max(50, a.runs // 4))
    p50, p99 = np.percentile(single, [50, 99])
    b50, b99 = np.percentile(base, [50, 99])
    print(
        f"single PNG->prediction  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (target p99 <= 25 ms)"
        f"  {'OK' if p99 <= 25 else 'MISS'}"
    )
    print(
        f"  naive baseline        p50 {b50:6.1f} ms  p99 {b99:6.1f} ms  -> speed-up "
        f"{b50 / p50:.1f}x (p50)"
    )

    batch = 32

    def run_batches() -> None:
        for i in range(0, len(blobs), batch):
            clf.predict_many(blobs[i : i + batch])

    def run_naive() -> None:
        for i in range(0, len(blobs), batch):
            naive(blobs[i : i + batch])

    t = _times(run_batches, 3, warmup=1).sum() / 1000
    tb = _times(run_naive, 2, warmup=1).sum() / 1000
    ips, ips_b = 3 * len(blobs) / t, 2 * len(blobs) / tb
    print(
        f"batched (32/batch, incl. decode) {ips:6.1f} images/s  (target >= 150)  "
        f"{'OK' if ips >= 150 else 'MISS'};  naive {ips_b:.1f} images/s -> {ips / ips_b:.1f}x"
    )

    jpegs = _pngs(64, fmt="JPEG")

    pool = ThreadPoolExecutor(torch.get_num_threads())

    def run_jpeg(draft: bool) -> None:
        for i in range(0, len(jpegs), batch):
            chunk = jpegs[i : i + batch]
            if draft:
                clf.predict_many(chunk)
            else:  # the same thread pool and model, without Image.draft
                arrays = list(pool.map(lambda b: clf.prepare(decode(b)), chunk))
                clf.predict_arrays(np.stack(arrays))

    # Alternate the two so that a burst of load from other tenants hits both; best of 5.
    tj, tjf = np.inf, np.inf
    for _ in range(5):
        tj = min(tj, float(_times(lambda: run_jpeg(True), 1, warmup=0)[0]))
        tjf = min(tjf, float(_times(lambda: run_jpeg(False), 1, warmup=0)[0]))
    print(
        f"batched JPEG q90 (draft decode) {len(jpegs) / tj * 1000:6.1f} images/s;  full decode "
        f"{len(jpegs) / tjf * 1000:.1f} images/s -> {tjf / tj:.2f}x (best of 5, alternated)"
    )

    _search(a.n_embeddings)
    if a.store_rows:
        _store_search(clf, a.store_rows, blobs[0])


def _cross_renderer(folds: Path, data: Path, baseline: Path | None, model: Path) -> None:
    from tradelake.ml import cross_renderer as cr
    from tradelake.ml.renderers import RENDERERS

    _, model_ck = cr.load_model(model)
    model_seen = list(model_ck.get("train_renderers", ["pillow"]))
    sources = {
        n: folds / f"loro-{n}.pt" if (folds / f"loro-{n}.pt").is_file() else model
        for n in RENDERERS
        if (folds / f"loro-{n}.pt").is_file() or n not in model_seen
    }
    if not sources:
        raise SystemExit(
            f"no loro-<renderer>.pt in {folds}, and {model.name} saw every renderer; run "
            "python -m tradelake.ml.cross_renderer or python -m tradelake.ml.train_sketch"
        )
    names = list(sources)
    cr.ensure_sets(data, names, splits=("eval",))
    base_path = baseline or WEIGHTS
    base, base_ck = cr.load_model(base_path)
    base_seen = base_ck.get("train_renderers", ["pillow"])
    print(f"baseline {base_path.name} (trained on {', '.join(base_seen) or 'no renderer'})")
    print(
        f"{'held-out':<11} {'charts':>6} {'macro-F1':>9} {'acc':>6} {'ECE':>6} "
        f"{'weakest class':<30} {'baseline':>9} {'ratio':>6}  target >= 0.90"
    )
    results = {}
    for name, src in sources.items():
        fold, ck = cr.load_model(src)
        if name in ck.get("train_renderers", []):
            raise SystemExit(f"{src.name} was trained on {name}: not a held-out figure")
        held = cr.load_folder(
            data / f"eval_{name}",
            tuple(ck["input_size"]),
            right_fraction=ck.get("right_fraction", 0.8),
            kind=ck.get("input", "rgb"),
        )
        rep = cr.score(fold, held, ck["temperature"])
        bheld = cr.load_folder(
            data / f"eval_{name}",
            tuple(base_ck["input_size"]),
            right_fraction=base_ck.get("right_fraction", 0.8),
            kind=base_ck.get("input", "rgb"),
        )
        brep = cr.score(base, bheld, base_ck["temperature"])
        worst = min(rep["per_class_f1"].items(), key=lambda kv: kv[1])
        note = "" if name not in base_seen else " (baseline saw it)"
        print(
            f"{name:<11} {rep['n']:>6} {rep['macro_f1']:>9.3f} {rep['accuracy']:>6.3f} "
            f"{rep['ece_after']:>6.3f} {worst[0] + f' ({worst[1]:.2f})':<30} "
            f"{brep['macro_f1']:>9.3f} {rep['macro_f1'] / max(brep['macro_f1'], 1e-9):>5.2f}x  "
            f"{'OK' if rep['macro_f1'] >= 0.9 else 'MISS'}{note}"
        )
        results[name] = rep
    print(cr.loro_table(results))


def _gradient(img: Image.Image) -> Image.Image:
    """Blend a vertical gradient into the background (as some terminals' themes do)."""
    a = np.asarray(img).astype(np.float32)
    ramp = np.linspace(-28.0, 28.0, a.shape[0], dtype=np.float32)[:, None, None]
    return Image.fromarray(np.clip(a + ramp, 0, 255).astype(np.uint8))


STRESS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "as drawn": lambda im: im,
    "JPEG q35": lambda im: Image.open(_encoded(im, "JPEG", quality=35)).convert("RGB"),
    "captured at 55 %": lambda im: im.resize((im.width * 55 // 100, im.height * 55 // 100)),
    "inverted theme": lambda im: Image.fromarray(255 - np.asarray(im)),
    "gradient background": _gradient,
}


def _encoded(img: Image.Image, fmt: str, **kw: int) -> io.BytesIO:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    buf.seek(0)
    return buf


def _stress(data: Path, model: Path, baseline: Path | None) -> None:
    import csv

    from tradelake.ml.evaluation import confusion_matrix, macro_f1

    clfs = {"model": ChartClassifier.load(model)}
    if baseline is not None:
        clfs["baseline"] = ChartClassifier.load(baseline)
    folders = sorted(p for p in data.glob("eval_*") if (p / "labels.csv").is_file())
    if not folders:
        raise SystemExit(f"no eval_<renderer>/labels.csv under {data}")
    print(f"{'renderer':<11} {'screen':<20} " + " ".join(f"{k:>9}" for k in clfs))
    for folder in folders:
        rows = list(csv.DictReader((folder / "labels.csv").open()))
        images = [decode((folder / r["file"]).read_bytes()) for r in rows]
        truth = [CLASSES.index(r["label"]) for r in rows]
        for name, change in STRESS.items():
            shown = [change(im) for im in images]
            scores = []
            for clf in clfs.values():
                pred = [CLASSES.index(p.signal) for p in clf.predict(shown)]
                scores.append(macro_f1(confusion_matrix(truth, pred, len(CLASSES))))
            label = folder.name.removeprefix("eval_")
            print(f"{label:<11} {name:<20} " + " ".join(f"{v:>9.3f}" for v in scores))


def _search(n: int) -> None:
    """Top-10 over ``n`` random 128-d vectors in memory (the matrices are freed on return)."""
    rng = np.random.default_rng(0)
    emb = np.empty((n, 128), np.float32)
    for s in range(0, n, 100_000):
        emb[s : s + 100_000] = rng.standard_normal((min(100_000, n - s), 128), np.float32)
    index = EmbeddingIndex(emb, normalized=False)
    del emb
    queries = rng.standard_normal((20, 128)).astype(np.float32)
    it = iter(range(10**9))
    st = _times(lambda: index.search(queries[next(it) % 20], 10), 20, warmup=2)
    mat64 = index._mat.astype(np.float64)

    def brute() -> list[int]:
        q = queries[0].astype(np.float64)
        scores = mat64 @ (q / np.linalg.norm(q))
        return np.argsort(-scores)[:10].tolist()

    sb = _times(brute, 3, warmup=1)
    assert [i for i, _ in index.search(queries[0], 10)] == brute()
    s50, smax = np.percentile(st, 50), st.max()
    print(
        f"search top-10 of {n:,} x 128  p50 {s50:6.1f} ms  max {smax:6.1f} ms  "
        f"(target <= 200 ms)  {'OK' if smax <= 200 else 'MISS'};  float64 full-sort "
        f"baseline {np.median(sb):.0f} ms -> {np.median(sb) / s50:.1f}x"
    )


def _store_search(clf: ChartClassifier, rows: int, query_png: bytes) -> None:
    """``similar_setups`` over ``rows`` stored frames: cache build, cached, uncached."""
    with tempfile.TemporaryDirectory() as tmp:
        store = FeatureStore(Path(tmp) / "features.duckdb", StagingWriter(Path(tmp) / "s"))
        table = Path(tmp) / "img_signals.parquet"
        con = duckdb.connect()
        con.execute(
            "CREATE TABLE img_signals AS SELECT substr(md5(i::VARCHAR), 1, 16) AS frame_id, "
            "'file' AS device, TIMESTAMPTZ '2026-01-01' + to_seconds(i) AS ts, "
            "'none' AS signal, 0.5 AS prob, 'screens' AS source, 1 AS version, ? AS "
            "model_version, list_transform(range(128), lambda x: (random() - 0.5)::FLOAT)"
            "::FLOAT[128] AS embedding FROM range(?) t(i)",
            [clf.model_version, rows],
        )
        con.execute(f"COPY img_signals TO '{table}' (FORMAT parquet)")
        con.close()
        relation = catalog.Relation("parquet", file=table)
        catalog.publish(
            store.catalog_path, catalog.Catalog(relations={("main", "img_signals"): relation})
        )
        image = Path(tmp) / "query.png"
        image.write_bytes(query_png)
        start = time.perf_counter()
        similar_setups(clf, store, image, 10)
        build = time.perf_counter() - start
        cached = _times(lambda: similar_setups(clf, store, image, 10), 20, warmup=1)

        def uncached_call() -> None:
            shutil.rmtree(cache_dir(store), ignore_errors=True)
            similar_setups(clf, store, image, 10)

        uncached = _times(uncached_call, 2, warmup=0)
    c50, c90 = (float(v) for v in np.percentile(cached, [50, 90]))
    cmax = float(cached.max())
    print(
        f"similar over {rows:,} stored frames (DuckDB; PNG query inference included): "
        f"first {build:.1f} s (builds the cache); cached p50 {c50:6.1f} ms p90 {c90:6.1f} ms "
        f"max {cmax:6.1f} ms (target <= 200 ms)  {'OK' if c90 <= 200 else 'MISS'};  "
        f"without the cache {np.median(uncached):.0f} ms -> {np.median(uncached) / c50:.1f}x"
    )


if __name__ == "__main__":
    main()
