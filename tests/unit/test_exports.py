"""--csv / --parquet / --xlsx: the full frame, read back equal, written atomically."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from tradelake.errors import ExportError
from tradelake.exports import excel_ready, export_frame


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "trade_id": [72280658002609729, 122448051862018881, 5],
            "account": ["SIM-1042", "PARIS-2201", 'Ü-ç,"quoted"'],
            "session_date": [date(2025, 10, 24), date(2025, 10, 25), None],
            "timestamp": [
                datetime(2025, 10, 24, 18, 51, 25, 451000, tzinfo=UTC),
                datetime(2025, 10, 25, 3, 19, 22, 145000, tzinfo=UTC),
                datetime(2025, 10, 26, 0, 0, tzinfo=UTC),
            ],
            "qty": [-4, 1, 2],
            "net_pnl": [-1940.5, 20986.25, None],
        }
    )


def test_csv_round_trip_is_equal(tmp_path: Path) -> None:
    frame = _frame()
    export_frame(frame, tmp_path / "out.csv", "csv")
    back = pl.read_csv(tmp_path / "out.csv", schema=frame.schema)
    assert back.equals(frame)


def test_parquet_round_trip_is_equal(tmp_path: Path) -> None:
    frame = _frame()
    export_frame(frame, tmp_path / "out.parquet", "parquet")
    assert pl.read_parquet(tmp_path / "out.parquet").equals(frame)


def test_xlsx_round_trip_keeps_ids_exact_and_times_in_utc(tmp_path: Path) -> None:
    frame = _frame()
    export_frame(frame, tmp_path / "out.xlsx", "xlsx")
    back = pl.read_excel(tmp_path / "out.xlsx", sheet_name="data")
    assert back["trade_id"].to_list() == ["72280658002609729", "122448051862018881", "5"]
    expected = excel_ready(frame)
    assert back["account"].to_list() == expected["account"].to_list()
    assert back["qty"].to_list() == [-4, 1, 2]
    assert back["net_pnl"].to_list() == [-1940.5, 20986.25, None]
    assert back["timestamp"].cast(pl.Datetime("ms")).to_list() == (
        expected["timestamp"].cast(pl.Datetime("ms")).to_list()
    )
    assert back["session_date"].cast(pl.Date).to_list() == frame["session_date"].to_list()


def test_a_failed_export_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    class Boom(pl.DataFrame):
        def write_csv(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            raise OSError(28, "No space left on device")

    with pytest.raises(ExportError, match="No space left on device; choose a writable path"):
        export_frame(Boom(_frame()), target, "csv")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_json_rows_export_with_nested_values_as_json_text(tmp_path: Path) -> None:
    from tradelake.cli.common import rows_frame

    rows = [
        {"file": "a.png", "signal": "bull_flag", "prob": 0.9, "probs": {"bull_flag": 0.9}},
        {"file": "b.png", "error": "b.png: not an image"},
    ]
    export_frame(rows_frame(rows), tmp_path / "out.csv", "csv")
    back = pl.read_csv(tmp_path / "out.csv")
    assert back.columns == ["file", "signal", "prob", "probs", "error"]
    assert back.rows() == [
        ("a.png", "bull_flag", 0.9, '{"bull_flag": 0.9}', None),
        ("b.png", None, None, None, "b.png: not an image"),
    ]
