"""Exact cosine nearest-neighbour search over chart embeddings ("similar past setups").

The index is a dense row-major float32 matrix of L2-normalised vectors, so cosine
similarity is one BLAS matrix-vector product; the top ``k`` are picked with
``np.argpartition`` (linear time) and only those ``k`` are sorted. 1,000,000 128-d
vectors take 512 MB and one query runs in well under 200 ms on 2 CPU threads
(``benchmarks/vision.py``). float16 storage halves memory but is scored chunk by chunk
in float32, which is slower; use it only when memory is the constraint.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

_CHUNK = 65536


def _normalise(x: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class EmbeddingIndex:
    """Append-only exact cosine index; ``ids`` may be any hashable labels (strings, ints).

    Rows are L2-normalised on insertion (unless ``normalized=True`` says they already are),
    so scores are cosine similarities in [-1, 1], highest first.
    """

    def __init__(
        self,
        embeddings: ArrayLike,
        ids: Sequence[Any] | NDArray[Any] | None = None,
        *,
        dtype: type[np.floating[Any]] = np.float32,
        normalized: bool = False,
    ) -> None:
        mat = np.asarray(embeddings)
        if mat.ndim != 2:
            raise ValueError(f"embeddings must be 2-D (n, dim), got shape {mat.shape}")
        if not normalized:
            mat = _normalise(mat)
        self._mat: NDArray[Any] = np.ascontiguousarray(mat, dtype=dtype)
        self._ids: NDArray[Any] = (
            np.arange(len(mat))
            if ids is None
            else np.asarray(ids)
            if not isinstance(ids, np.ndarray)
            else ids
        )
        if len(self._ids) != len(self._mat):
            raise ValueError(f"{len(self._ids)} ids for {len(self._mat)} embeddings")

    @property
    def dim(self) -> int:
        return int(self._mat.shape[1])

    def __len__(self) -> int:
        return int(self._mat.shape[0])

    def add(self, embeddings: ArrayLike, ids: Sequence[Any] | NDArray[Any]) -> None:
        """Append rows (copies the matrix; batch additions rather than adding one by one)."""
        new = _normalise(np.atleast_2d(np.asarray(embeddings)))
        if new.shape[1] != self.dim or len(new) != len(ids):
            raise ValueError(f"expected {len(ids)} rows of dim {self.dim}, got {new.shape}")
        self._mat = np.concatenate([self._mat, new.astype(self._mat.dtype)])
        self._ids = np.concatenate([self._ids, np.asarray(ids)])

    def scores(self, query: ArrayLike) -> NDArray[np.float32]:
        """Cosine similarity of one query to every stored row."""
        q = _normalise(np.asarray(query, dtype=np.float32).reshape(-1))
        if q.shape[0] != self.dim:
            raise ValueError(f"query has dim {q.shape[0]}, index has {self.dim}")
        if self._mat.dtype == np.float32:
            return self._mat @ q
        out = np.empty(len(self), np.float32)
        for s in range(0, len(self), _CHUNK):
            out[s : s + _CHUNK] = self._mat[s : s + _CHUNK].astype(np.float32) @ q
        return out

    def search(self, query: ArrayLike, k: int = 10) -> list[tuple[Any, float]]:
        """The ``k`` most similar stored embeddings as ``(id, cosine)``, best first."""
        n = len(self)
        if n == 0 or k <= 0:
            return []
        s = self.scores(query)
        k = min(k, n)
        top = np.argpartition(-s, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.argsort(-s[top], kind="stable")]
        return [
            (self._ids[i].item() if hasattr(self._ids[i], "item") else self._ids[i], float(s[i]))
            for i in top
        ]

    def search_many(self, queries: ArrayLike, k: int = 10) -> list[list[tuple[Any, float]]]:
        """:meth:`search` for each row of ``queries``."""
        return [self.search(q, k) for q in np.atleast_2d(np.asarray(queries))]

    def save(self, path: str | Path) -> None:
        """Write ``.npz`` (embeddings + ids); ids must be numbers or strings."""
        np.savez(Path(path), embeddings=self._mat, ids=self._ids)

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingIndex:
        with np.load(Path(path), allow_pickle=False) as z:
            emb = z["embeddings"]
            return cls(emb, z["ids"], dtype=emb.dtype.type, normalized=True)
