"""Chart-screenshot classifier: preprocessing, the compact CNN, and the real-time API.

``ChartClassifier.load()`` returns the shipped model; ``predict`` maps screenshots (bytes
or PIL images) to the chart pattern completing on their right edge, a temperature-
calibrated probability, all class probabilities and a 128-d L2-normalised embedding.

A checkpoint names its input (``input``, see :data:`INPUT_KINDS`), and preprocessing is the
same in training and serving:

- ``ink`` (chart_cnn 3.x, shipped): the one-channel ink map of :mod:`tradelake.ml.ink`,
  96x256: each pixel's distance from the screen's background colour, so palette and theme
  of the charting software are gone before the model sees the chart;
- ``rgb`` (chart_cnn 1.x/2.x): ``Image.reduce`` by an integer factor (cheap box filter), trim
  uniform borders, keep the right ``right_fraction`` of the chart, bilinear resize to the
  model input (128x288 by default).

Either runs in a few milliseconds for a 1280x720 PNG on 2 CPU threads.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError
from torch import nn

from tradelake.errors import VisionError as VisionError  # re-exported: ml.vision.VisionError
from tradelake.ml.charts import CLASSES
from tradelake.ml.evaluation import (  # re-exported: moved to ml.evaluation
    expected_calibration_error as expected_calibration_error,
)

INPUT_SIZE: tuple[int, int] = (128, 288)  # (height, width)
#: Share of the trimmed chart (from the right) the model sees. Checkpoints record their own
#: (``right_fraction``); those without the key were trained on the right 80 %.
RIGHT_FRACTION = 1.0
LEGACY_RIGHT_FRACTION = 0.8
EMBED_DIM = 128
#: What a checkpoint's ``input`` key may name, and the channels the model then reads: RGB
#: pixels (chart_cnn 1.x/2.x) or the renderer-independent ink map (3.x, :mod:`ml.ink`).
INPUT_KINDS: dict[str, int] = {"rgb": 3, "ink": 1}
WIDTHS: tuple[int, ...] = (16, 32, 64, 128)
MIN_SIDE = 32
WEIGHTS = Path(__file__).parent / "weights" / "chart_cnn.pt"
ImageInput = bytes | bytearray | memoryview | Image.Image


@dataclass(frozen=True)
class Prediction:
    """One screenshot's result. ``prob`` is the calibrated probability of ``signal``."""

    signal: str
    prob: float
    probs: dict[str, float]
    embedding: NDArray[np.float32]


# --------------------------------------------------------------------------- preprocessing


def reduce_factor(
    size: tuple[int, int],
    target: tuple[int, int] = INPUT_SIZE,
    right_fraction: float = RIGHT_FRACTION,
) -> int:
    """The integer downscale :func:`preprocess` applies first: the largest that keeps at least
    1.5x the model input (``target`` is ``(height, width)``) over the kept right part."""
    (w, h), (th, tw) = size, target
    return max(1, min(int(w * right_fraction / (1.5 * tw)), int(h / (1.5 * th))))


def decode(
    data: ImageInput,
    target: tuple[int, int] | None = None,
    right_fraction: float = RIGHT_FRACTION,
) -> Image.Image:
    """Decode image bytes (PNG, JPEG, WebP, ...) into RGB; raise :class:`VisionError`.

    With ``target`` (the model input, ``(height, width)``), a JPEG is decoded straight at
    1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, ``Image.draft``) down to what
    :func:`preprocess` would reduce it to anyway: about 40 % less decode and preprocessing
    time for a 1280x720 screenshot, with the same predictions (measured: 140 of 140 charts,
    probabilities within 0.02, embedding cosine > 0.9999). PNG has no such shortcut.
    """
    if isinstance(data, Image.Image):
        img = data
    else:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise VisionError(
                f"expected image bytes or a PIL.Image, got {type(data).__name__}; "
                "read the file with open(path, 'rb').read()"
            )
        if len(data) == 0:
            raise VisionError("empty input: the file has no bytes; check the path/upload")
        try:
            img = Image.open(io.BytesIO(bytes(data)))
            if target is not None and img.format == "JPEG":
                factor = reduce_factor(img.size, target, right_fraction)
                if factor > 1:
                    img.draft("RGB", (-(-img.width // factor), -(-img.height // factor)))
            img.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            # Pillow's "cannot identify" message names a BytesIO address: not stable output.
            reason = "unknown format" if isinstance(exc, UnidentifiedImageError) else exc
            raise VisionError(
                f"cannot decode image ({reason}); pass a PNG, JPEG or WebP "
                "screenshot, re-export it if the file is truncated"
            ) from exc
    if min(img.size) < MIN_SIDE:
        raise VisionError(
            f"image is {img.size[0]}x{img.size[1]} px; a chart screenshot needs "
            f"at least {MIN_SIDE} px per side"
        )
    return img if img.mode == "RGB" else img.convert("RGB")


def _trim_box(img: Image.Image) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) of content that differs from the border colour.

    Computed on a strided greyscale view (about 320 px wide) so it costs ~1 ms.
    """
    w, h = img.size
    step = max(1, w // 320)
    g = np.asarray(img.convert("L"))[::step, ::step]
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    bg = int(np.median(border))
    ink = np.abs(g.astype(np.int16) - bg) > 20
    rows = np.flatnonzero(ink.mean(axis=1) > 0.004)
    cols = np.flatnonzero(ink.mean(axis=0) > 0.004)
    gh, gw = ink.shape
    if rows.size < gh // 4 or cols.size < gw // 4:
        return 0, 0, w, h
    return (
        int(cols[0]) * step,
        int(rows[0]) * step,
        min(w, (int(cols[-1]) + 1) * step),
        min(h, (int(rows[-1]) + 1) * step),
    )


def preprocess(
    img: Image.Image,
    size: tuple[int, int] = INPUT_SIZE,
    right_fraction: float = RIGHT_FRACTION,
) -> NDArray[np.uint8]:
    """RGB screenshot -> uint8 array ``(height, width, 3)`` the model consumes.

    ``right_fraction`` < 1 keeps only the right part of the trimmed chart; the default
    keeps all of it, because a pattern may span 70 % of a screen (issue 11).
    """
    th, tw = size
    factor = reduce_factor(img.size, size, right_fraction)
    small = img.reduce(factor) if factor > 1 else img
    x0, y0, x1, y1 = _trim_box(small)
    x0 = max(x0, x1 - round((x1 - x0) * right_fraction))
    out = small.resize((tw, th), Image.Resampling.BILINEAR, box=(x0, y0, x1, y1))
    return np.asarray(out, dtype=np.uint8)


def to_tensor(batch: NDArray[np.uint8] | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC -> normalised float NCHW in channels_last memory layout."""
    t = torch.as_tensor(batch)
    x = t.permute(0, 3, 1, 2).float().sub_(127.5).div_(64.0)
    return x.contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- model


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1: nn.Module = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2: nn.Module = nn.BatchNorm2d(cout)
        self.down: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.down(x), inplace=True)


class ChartNet(nn.Module):
    """ResNet-18 layout (default widths 16-128) with a position-aware head.

    The last feature map is averaged over height only, so the head still knows *where*
    along the time axis a shape sits (patterns must complete on the right edge). Logits
    are a scaled cosine between the L2-normalised embedding and class prototypes, which
    makes the embedding itself class-discriminative for similarity search.
    """

    def __init__(
        self,
        n_classes: int = len(CLASSES),
        widths: Sequence[int] = WIDTHS,
        input_size: tuple[int, int] = INPUT_SIZE,
        embed_dim: int = EMBED_DIM,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        w0 = widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, w0 // 2 + 8, 3, 2, 1, bias=False),
            nn.BatchNorm2d(w0 // 2 + 8),
            nn.ReLU(inplace=True),
            nn.Conv2d(w0 // 2 + 8, w0, 3, 2, 1, bias=False),
            nn.BatchNorm2d(w0),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        cin = w0
        for i, wd in enumerate(widths):
            layers += [BasicBlock(cin, wd, 1 if i == 0 else 2), BasicBlock(wd, wd, 1)]
            cin = wd
        self.body = nn.Sequential(*layers)
        cols = input_size[1] // (4 * 2 ** (len(widths) - 1))
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cin * cols, 256),
            nn.BatchNorm1d(256),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
        )
        self.embed = nn.Linear(256, embed_dim)
        self.prototypes = nn.Parameter(torch.randn(n_classes, embed_dim) * 0.1)
        self.scale = 16.0

    @torch.no_grad()
    def fuse_for_inference(self) -> ChartNet:
        """Fold every BatchNorm2d into the conv before it (eval only; ~15 % faster on CPU).

        Outputs equal the unfused model's up to float rounding; call after loading weights.
        """

        def fold(conv: nn.Module, bn: nn.Module) -> bool:
            if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
                return False
            assert bn.running_var is not None and bn.running_mean is not None
            s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            conv.weight = nn.Parameter(conv.weight * s.reshape(-1, 1, 1, 1))
            conv.bias = nn.Parameter((bias - bn.running_mean) * s + bn.bias)
            return True

        self.eval()
        for mod in self.modules():
            if isinstance(mod, nn.Sequential):
                for i in range(len(mod) - 1):
                    if fold(mod[i], mod[i + 1]):
                        mod[i + 1] = nn.Identity()
            elif isinstance(mod, BasicBlock):
                if fold(mod.conv1, mod.bn1):
                    mod.bn1 = nn.Identity()
                if fold(mod.conv2, mod.bn2):
                    mod.bn2 = nn.Identity()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits, embedding)``; the embedding is L2-normalised."""
        f = self.body(self.stem(x)).mean(dim=2)
        emb = F.normalize(self.embed(self.fc(f)), dim=1)
        logits = self.scale * emb @ F.normalize(self.prototypes, dim=1).t()
        return logits, emb


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature T minimising the NLL of ``softmax(logits / T)`` (Guo et al., 2017)."""
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)
    lg, lb = logits.detach().float().cpu(), labels.cpu()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(lg / log_t.exp(), lb)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))


# --------------------------------------------------------------------------- serving


def _resolve(source: str | Path | None, tracking_uri: str | None) -> Path:
    if source is None:
        return WEIGHTS
    text = str(source)
    if text.startswith(("models:/", "runs:/", "mlflow-artifacts:/")):
        from tradelake.ml.registry import download_checkpoint

        return download_checkpoint(text, tracking_uri=tracking_uri)
    return Path(text)


class ChartClassifier:
    """A loaded checkpoint ready for inference; thread-safe for concurrent ``predict`` calls."""

    def __init__(
        self,
        model: ChartNet,
        classes: Sequence[str],
        temperature: float,
        input_size: tuple[int, int],
        model_version: str,
        metrics: dict[str, Any] | None = None,
        right_fraction: float = RIGHT_FRACTION,
        input_kind: str = "rgb",
    ) -> None:
        self.model = model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.classes = tuple(classes)
        self.temperature = float(temperature)
        self.input_size = input_size
        self.right_fraction = float(right_fraction)
        self.input_kind = input_kind
        self.model_version = model_version
        self.metrics = dict(metrics or {})
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def load(
        cls, source: str | Path | None = None, *, tracking_uri: str | None = None, fuse: bool = True
    ) -> ChartClassifier:
        """Load the shipped checkpoint (None), a ``.pt`` file, or an MLflow model URI.

        MLflow URIs (``models:/chart_cnn@champion``, ``models:/chart_cnn/3``,
        ``runs:/<run_id>/model``) are downloaded and then read by the same code as files,
        so all three give identical outputs for identical weights. ``fuse`` folds
        BatchNorm into the convolutions (faster; disable only to get the raw module).
        """
        path = _resolve(source, tracking_uri)
        if not path.is_file():
            raise VisionError(
                f"no checkpoint at {path}; train one with "
                "`python -m tradelake.ml.train_vision` or pass a models:/ URI"
            )
        raw = path.read_bytes()
        try:
            ckpt = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for bad files
            raise VisionError(f"{path} is not a chart_cnn checkpoint ({exc})") from exc
        size = tuple(ckpt["input_size"])
        kind = str(ckpt.get("input", "rgb"))
        if kind not in INPUT_KINDS:
            raise VisionError(
                f"{path} reads {kind!r} input, which this tradelake does not know "
                f"(known: {', '.join(INPUT_KINDS)}); upgrade tradelake"
            )
        model = ChartNet(
            len(ckpt["classes"]), ckpt["widths"], (size[0], size[1]), in_channels=INPUT_KINDS[kind]
        )
        model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
        if fuse:
            model.fuse_for_inference()
        version = f"{ckpt.get('version', '0')}+{hashlib.sha256(raw).hexdigest()[:12]}"
        return cls(
            model,
            ckpt["classes"],
            ckpt["temperature"],
            (size[0], size[1]),
            version,
            ckpt.get("metrics"),
            float(ckpt.get("right_fraction", LEGACY_RIGHT_FRACTION)),
            kind,
        )

    def prepare(self, image: ImageInput) -> NDArray[np.uint8]:
        """Decode and preprocess one input; raises :class:`VisionError` if it is unusable.

        Returns ``(height, width, channels)`` uint8: RGB for ``rgb`` checkpoints, the one-channel
        ink map (:mod:`tradelake.ml.ink`) for ``ink`` ones.
        """
        if self.input_kind == "ink":
            from tradelake.ml.ink import ink_map

            return ink_map(decode(image, self.input_size), self.input_size)[..., None]
        return preprocess(
            decode(image, self.input_size, self.right_fraction),
            self.input_size,
            self.right_fraction,
        )

    @torch.inference_mode()
    def predict_arrays(self, batch: NDArray[np.uint8]) -> list[Prediction]:
        """Predictions for already preprocessed uint8 NHWC arrays."""
        if len(batch) == 0:
            return []
        logits, emb = self.model(to_tensor(batch))
        probs = torch.softmax(logits.float() / self.temperature, dim=1).numpy()
        embs = emb.float().numpy().astype(np.float32)
        out = []
        for p, e in zip(probs, embs, strict=True):
            i = int(p.argmax())
            out.append(
                Prediction(
                    self.classes[i],
                    float(p[i]),
                    {c: float(v) for c, v in zip(self.classes, p, strict=True)},
                    e.copy(),
                )
            )
        return out

    def predict_many(self, images: Sequence[ImageInput]) -> list[Prediction | VisionError]:
        """Per-item results: a bad input yields its :class:`VisionError`, the rest still run.

        Decoding runs on ``torch.get_num_threads()`` threads (Pillow releases the GIL).
        """

        def safe(img: ImageInput) -> NDArray[np.uint8] | VisionError:
            try:
                return self.prepare(img)
            except VisionError as exc:
                return exc

        if len(images) > 1 and torch.get_num_threads() > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(torch.get_num_threads(), "chart-decode")
            prepared = list(self._pool.map(safe, images))
        else:
            prepared = [safe(i) for i in images]
        good = [p for p in prepared if not isinstance(p, VisionError)]
        preds = iter(self.predict_arrays(np.stack(good)) if good else [])
        return [p if isinstance(p, VisionError) else next(preds) for p in prepared]

    def predict(self, images: Sequence[ImageInput]) -> list[Prediction]:
        """Batched predictions; raises :class:`VisionError` naming the first bad input.

        Use :meth:`predict_many` when a batch may hold corrupt files and the rest must go on.
        """
        results = self.predict_many(images)
        for i, r in enumerate(results):
            if isinstance(r, VisionError):
                raise VisionError(f"input {i}: {r}; use predict_many() to skip bad inputs")
        return [r for r in results if isinstance(r, Prediction)]

    def classify_files(
        self,
        paths: Iterable[str | os.PathLike[str]],
        batch_size: int = 32,
    ) -> Iterator[tuple[Path, Prediction | VisionError]]:
        """Yield ``(path, result)`` per file, in order; unreadable files yield an error."""
        chunk: list[Path] = []

        def flush() -> Iterator[tuple[Path, Prediction | VisionError]]:
            items: list[ImageInput | VisionError] = []
            for p in chunk:
                try:
                    items.append(p.read_bytes())
                except OSError as exc:
                    items.append(
                        VisionError(
                            f"cannot read {p} ({exc.strerror or exc}); "
                            "check the path and its permissions"
                        )
                    )
            readable = [i for i in items if not isinstance(i, VisionError)]
            results = iter(self.predict_many(readable))
            for p, item in zip(chunk, items, strict=True):
                r = item if isinstance(item, VisionError) else next(results)
                yield p, (VisionError(f"{p}: {r}") if isinstance(r, VisionError) else r)

        for p in paths:
            chunk.append(Path(p))
            if len(chunk) == batch_size:
                yield from flush()
                chunk = []
        if chunk:
            yield from flush()
