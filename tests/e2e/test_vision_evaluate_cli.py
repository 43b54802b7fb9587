"""``python -m tradelake.ml.renderers`` writes a labelled set that ``tradelake vision evaluate``
reads back, as a desk would check the model on its own screenshots."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fixtures.charts import CORRUPT_PNG
from tradelake.cli import app
from tradelake.cli.common import EXIT_FAILED, EXIT_PARTIAL
from tradelake.ml.charts import CLASSES
from tradelake.ml.renderers.__main__ import main as write_main
from tradelake.ml.renderers.dataset import item_seed, render_item

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("set") / "svg"
    write_main(["--renderer", "svg", "--per-class", "2", "--seed", "5", "--out", str(out)])
    return out


def _evaluate(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["vision", "evaluate", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow
def test_writer_layout_and_seeds_redraw_the_same_chart(dataset: Path) -> None:
    with (dataset / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["label"] for r in rows] == [c for c in CLASSES for _ in range(2)]
    assert rows[0]["file"] == "double_top/0000.png" and rows[1]["file"] == "double_top/0001.png"
    assert {r["renderer"] for r in rows} == {"svg"}
    assert int(rows[3]["seed"]) == item_seed(5, 3)
    assert all((dataset / r["file"]).is_file() for r in rows)
    again = render_item("svg", rows[3]["label"], int(rows[3]["seed"]))
    from PIL import Image

    with Image.open(dataset / rows[3]["file"]) as img:
        assert img.size == again.size and img.tobytes() == again.convert("RGB").tobytes()


@pytest.mark.slow
def test_evaluate_round_trips_the_written_set(dataset: Path, home: Path, tmp_path: Path) -> None:
    exported = tmp_path / "rows.csv"
    code, out, err = _evaluate(str(dataset), "--json", "--home", str(home), "--csv", str(exported))
    assert code == 0, err
    res = json.loads(out)
    assert res["n"] == 14 and res["classes"] == list(CLASSES)
    assert [m["support"] for m in res["per_class"]] == [2] * 7
    cm = res["confusion"]
    assert [sum(row) for row in cm] == [2] * 7
    assert res["accuracy"] == pytest.approx(sum(cm[i][i] for i in range(7)) / 14, abs=1e-4)
    assert 0.0 <= res["ece"] <= 1.0 and res["labels_from"].endswith("labels.csv")
    with exported.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 14 and {"file", "label", "predicted", "prob"} <= set(rows[0])
    hits = sum(r["label"] == r["predicted"] for r in rows)
    assert hits == sum(cm[i][i] for i in range(7))

    # the same folder without labels.csv: labels from the sub-folder names, same numbers
    bare = tmp_path / "bare"
    shutil.copytree(dataset, bare)
    (bare / "labels.csv").unlink()
    code, out_bare, _ = _evaluate(str(bare), "--json", "--home", str(home))
    assert code == 0
    assert json.loads(out_bare)["confusion"] == cm
    assert json.loads(out_bare)["labels_from"] == "sub-folders"

    code, table, _ = _evaluate(str(dataset), "--home", str(home))
    assert code == 0 and "macro-F1" in table and "true class" in table


def test_unknown_label_and_missing_file_stop_with_one_line(
    dataset: Path, home: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(f"file,label\n{dataset}/double_top/0000.png,cup_and_handle\n")
    code, _, err = _evaluate(str(dataset), "--labels", str(bad), "--home", str(home))
    assert code == EXIT_FAILED
    assert "unknown label(s) 'cup_and_handle'" in err and len(err.strip().splitlines()) == 1

    bad.write_text("file,label\nnowhere.png,none\n")
    code, _, err = _evaluate(str(dataset), "--labels", str(bad), "--home", str(home))
    assert code == EXIT_FAILED and "1 labelled file(s) do not exist" in err

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _evaluate(str(empty), "--home", str(home))
    assert code == EXIT_FAILED and "no labelled images" in err


def test_undecodable_file_is_reported_and_left_out(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    (folder / "none").mkdir(parents=True)
    render_item("pillow", "none", 1).save(folder / "none" / "a.png")
    (folder / "none" / "b.png").write_bytes(CORRUPT_PNG)
    code, out, _ = _evaluate(str(folder), "--json", "--home", str(home))
    assert code == EXIT_PARTIAL
    res = json.loads(out)
    assert res["n"] == 1 and len(res["errors"]) == 1
    assert res["errors"][0]["file"].endswith("b.png")
