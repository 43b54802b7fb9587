"""``tradelake vision ...`` as a user runs it (Typer's CliRunner, in process).

The model is loaded once per process, so these run in seconds; ``vision train`` trains a tiny
model on real synthetic data and logs it to an embedded MLflow store, so it is marked slow.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fixtures.charts import CORRUPT_PNG, chart_png, write_charts
from tradelake.cli import app
from tradelake.cli.common import EXIT_FAILED, EXIT_PARTIAL
from tradelake.ml.charts import CLASSES

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_classify_json_reports_per_file_and_is_deterministic(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "a.png").write_bytes(chart_png("double_top", 1))
    (folder / "b.png").write_bytes(chart_png("bull_flag", 2))
    (folder / "c.png").write_bytes(CORRUPT_PNG)
    (folder / "notes.txt").write_text("not an image; a walked folder skips it")

    code, out, _ = _run("vision", "classify", str(folder), "--json", "--home", str(home))
    assert code == EXIT_PARTIAL
    rows = json.loads(out)
    assert [Path(r["file"]).name for r in rows] == ["a.png", "b.png", "c.png"]
    assert [r.get("signal") for r in rows[:2]] == ["double_top", "bull_flag"]
    for row in rows[:2]:
        assert set(row) == {"file", "signal", "prob", "probs"} and list(row["probs"]) == list(
            CLASSES
        )
        assert row["prob"] == max(row["probs"].values())
    assert set(rows[2]) == {"file", "error"} and "cannot decode image" in rows[2]["error"]

    code_again, out_again, _ = _run(
        "vision", "classify", str(folder), "--json", "--home", str(home)
    )
    assert code_again == EXIT_PARTIAL and json.loads(out_again) == rows


def test_classify_table_output_and_exit_zero(tmp_path: Path, home: Path) -> None:
    shot = tmp_path / "one.png"
    shot.write_bytes(chart_png("head_and_shoulders", 3))
    code, out, err = _run("vision", "classify", str(shot), "--home", str(home))
    assert code == 0 and "head_and_shoulders" in out and err == ""


def test_similar_finds_the_ingested_frame_first(tmp_path: Path, home: Path) -> None:
    shots = write_charts(tmp_path / "shots")
    code, out, _ = _run("ingest", str(shots), "--json", "--home", str(home))
    assert code == EXIT_PARTIAL  # the corrupt file
    assert sorted(r["status"] for r in json.loads(out)) == ["error"] + ["ingested"] * 3

    query = shots / "chart-1.png"
    code, out, err = _run(
        "vision", "similar", str(query), "--k", "2", "--json", "--home", str(home)
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["searched"] == 3 and len(result["matches"]) == 2
    best, second = result["matches"]
    assert best["frame_id"] == hashlib.sha256(query.read_bytes()).hexdigest()[:16]
    assert best["score"] == pytest.approx(1.0, abs=1e-4) and best["signal"] == "bull_flag"
    assert best["device"] == "file" and best["ts"].endswith("+00:00")
    assert second["score"] < best["score"]

    code, out, _ = _run("vision", "similar", str(query), "--home", str(home))
    lines = out.splitlines()  # piped: plain aligned text, a header line then one per match
    assert code == 0 and lines[1].split()[:2] == ["frame_id", "score"] and len(lines) == 2 + 3
    assert lines[2].split()[0] == best["frame_id"]


def test_similar_without_frames_is_one_line_error(tmp_path: Path, home: Path) -> None:
    shot = tmp_path / "q.png"
    shot.write_bytes(chart_png("none", 4))
    code, out, err = _run("vision", "similar", str(shot), "--home", str(home))
    assert code == EXIT_FAILED and out == ""
    assert err.startswith("error: no feature store") and err.count("\n") == 1


@pytest.mark.slow
def test_train_registers_but_does_not_promote_a_tiny_model(home: Path) -> None:
    args = ("vision", "train", "--epochs", "1", "--n-train", "70", "--json", "--home", str(home))
    code, out, err = _run(*args)
    assert code == 0, err
    report = json.loads(out)
    assert report["baseline_version"] == "1" and report["version"] == "2"
    assert report["promoted"] is False and report["champion_version"] == "1"
    assert report["heldout_macro_f1"] < report["champion_macro_f1"]
    assert report["tracking_uri"] == f"sqlite:///{home / 'mlflow.db'}"
    artifacts = {p.name for p in (home / "mlartifacts").rglob("*")}
    assert {"confusion_heldout.png", "metrics.json", "chart_cnn.pt"} <= artifacts
