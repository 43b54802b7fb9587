"""``tradelake model train signal | list | score`` as a user runs them, on the demo desk."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.helpers import json_out, run_cli

pytestmark = pytest.mark.slow


def test_train_list_and_score_the_signal_ensemble(home: Path) -> None:
    assert run_cli("demo", "--home", str(home), "--fills", "700").returncode == 0
    (home / "tradelake.toml").write_text(
        (home / "tradelake.toml").read_text()
        + '\n[[screens]]\ndevice = "desk1"\ninstrument = "MESZ5@CME"\n'
        + "\n[ensemble]\nfolds = 3\nembargo_minutes = 30\n"
    )
    early = run_cli("model", "score", "--home", str(home))
    assert early.returncode == 1
    assert "no signal_ensemble@champion yet" in early.stderr

    trained = run_cli("model", "train", "signal", "--home", str(home), "--json", timeout=300)
    assert trained.returncode == 0, trained.stderr
    report = json_out(trained)
    assert (report["version"], report["promoted"], report["champion_version"]) == ("1", True, "1")
    assert len(report["walk_forward"]["folds"]) == 3
    assert report["walk_forward"]["embargo_s"] == 1800.0
    pooled = report["walk_forward"]["pooled"]
    assert pooled["trades"] == sum(f["trades"] for f in report["walk_forward"]["folds"])
    assert 0.0 <= report["metrics"]["wf_auc"] <= 1.0
    card = Path(report["card"]).read_text()
    assert "| all |" in card and "Walk-forward evaluation" in card

    listed = json_out(run_cli("model", "list", "--home", str(home), "--json"))
    assert [(v["name"], v["version"], v["aliases"]) for v in listed] == [
        ("signal_ensemble", "1", ["champion"])
    ]
    assert listed[0]["metrics"]["wf_auc"] == pytest.approx(report["metrics"]["wf_auc"])

    scored = json_out(run_cli("model", "score", "--home", str(home), "--last", "5", "--json"))
    assert len(scored) == 5
    assert all(0.0 <= row["prob"] <= 1.0 and row["model_version"] == "1" for row in scored)
    assert all(row["take"] == (row["prob"] >= 0.5) for row in scored)
    one = scored[0]["round_trip_id"]
    again = json_out(run_cli("model", "score", one, "--home", str(home), "--json"))
    assert [r["prob"] for r in again] == [scored[0]["prob"]]
    missing = run_cli("model", "score", "no-such-trip", "--home", str(home))
    assert missing.returncode == 1 and "no round trip no-such-trip" in missing.stderr
