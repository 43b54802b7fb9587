"""The ATAS time zone is never a silent default: init asks for it (or takes this machine's and
says so), and ingest warns once per file when it falls back to UTC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from e2e.helpers import run_cli
from fixtures.atas import export
from tradelake.cli import app, desk
from tradelake.config import load_settings


def test_init_yes_takes_the_machine_zone_and_says_so(home: Path) -> None:
    result = run_cli("init", "--home", str(home), "--yes", env={"TZ": "Asia/Tokyo"})
    assert result.returncode == 0, result.stderr
    assert "ATAS exports will be read in Asia/Tokyo, this machine's time zone" in result.stdout
    assert "change [sources.atas] timezone in tradelake.toml" in result.stdout  # not markup
    assert load_settings(home, env={}).atas_timezone_configured == "Asia/Tokyo"
    again = run_cli("init", "--home", str(home), "--force", "--timezone", "America/Chicago")
    assert again.returncode == 0, again.stderr
    assert load_settings(home, env={}).atas_timezone_configured == "America/Chicago"


def test_init_asks_for_the_zone_until_it_is_one(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desk, "_interactive", lambda: True)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    result = CliRunner().invoke(
        app, ["init", "--home", str(home)], input="Mars/Olympus\nEurope/Berlin\n"
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("Time zone of the machine that exports your ATAS workbooks") == 2
    assert "[Asia/Tokyo]" in result.output  # the machine's zone is the default answer
    assert "'Mars/Olympus' is not an IANA time zone" in result.output
    assert load_settings(home, env={}).atas_timezone_configured == "Europe/Berlin"


def test_ingest_warns_once_per_file_read_in_the_fallback_zone(home: Path) -> None:
    for name, seed in (("a.xlsx", 61), ("b.xlsx", 62)):
        (home / name).write_bytes(export(fills=120, seed=seed)[0])
    first = run_cli("ingest", str(home / "a.xlsx"), str(home / "b.xlsx"), "--home", str(home))
    assert first.returncode == 0, first.stderr
    warnings = [line for line in first.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert warnings[0].startswith("warning: a.xlsx: no time zone is configured for ATAS")
    assert "set [sources.atas] timezone in tradelake.toml (or pass --tz ZONE)" in warnings[1]
    # A duplicate is not read again, so there is nothing to warn about.
    again = run_cli("ingest", str(home / "a.xlsx"), "--home", str(home), "--json")
    assert "warning:" not in again.stderr
    assert json.loads(again.stdout)[0]["warnings"] == []


def test_a_configured_or_given_zone_gives_no_warning(home: Path) -> None:
    (home / "a.xlsx").write_bytes(export(fills=120, seed=63)[0])
    given = run_cli("ingest", str(home / "a.xlsx"), "--home", str(home), "--tz", "UTC", "--json")
    assert given.returncode == 0 and "warning:" not in given.stderr
    assert json.loads(given.stdout)[0]["warnings"] == []
    (home / "b.xlsx").write_bytes(export(fills=120, seed=64)[0])
    env = {"TRADELAKE_SOURCES__ATAS__TIMEZONE": "Europe/Paris"}
    configured = run_cli("ingest", str(home / "b.xlsx"), "--home", str(home), env=env)
    assert configured.returncode == 0 and "warning:" not in configured.stderr
