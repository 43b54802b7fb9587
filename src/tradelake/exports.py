"""``--csv FILE``, ``--parquet FILE``, ``--xlsx FILE``: a data command's full result as a file.

One writer per format, registered in :data:`WRITERS`; each writes a temp sibling that is
renamed over the target (:func:`tradelake.atomic_files.replacing`), so a reader or a crash
never sees half a file and an old export stays whole until the new one is complete.

CSV and Parquet hold the frame as it is. Excel cannot: it has no time zones (timestamps are
written as UTC wall time) and keeps 15 significant digits (id columns are written as text, so
a 64-bit ``trade_id`` survives).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tradelake.atomic_files import replacing
from tradelake.columns import is_id
from tradelake.errors import ExportError

if TYPE_CHECKING:
    import polars as pl


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    """Plain CSV, a header row, ISO timestamps with their offset."""
    frame.write_csv(path)


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Parquet with the frame's own types (time zones included)."""
    frame.write_parquet(path)


def write_xlsx(frame: pl.DataFrame, path: Path) -> None:
    """One worksheet; see :func:`excel_ready` for what Excel cannot hold."""
    excel_ready(frame).write_excel(path, worksheet="data", autofit=True)


def excel_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Zoned timestamps as UTC wall time, integer ids as text (Excel's 15 digits)."""
    import polars as pl

    changes = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            changes.append(pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None))
        elif is_id(name) and dtype.is_integer():
            changes.append(pl.col(name).cast(pl.Utf8))
    return frame.with_columns(changes) if changes else frame


WRITERS: dict[str, Callable[[pl.DataFrame, Path], None]] = {
    "csv": write_csv,
    "parquet": write_parquet,
    "xlsx": write_xlsx,
}


def export_frame(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    """Write ``frame`` to ``path`` in ``fmt`` (a key of :data:`WRITERS`), atomically."""
    writer = WRITERS[fmt]
    try:
        with replacing(path) as tmp:
            writer(frame, tmp)
    except OSError as exc:
        raise ExportError(
            f"cannot write {path}: {exc.strerror or exc}; choose a writable path for --{fmt}"
        ) from exc
