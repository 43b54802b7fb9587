"""``[[screens]]`` and ``[ensemble]`` from tradelake.toml."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tradelake.config import load_settings
from tradelake.errors import ConfigError
from tradelake.ml.ensemble_settings import ensemble_settings


def _settings(home: Path, toml: str) -> object:
    (home / "tradelake.toml").write_text(toml)
    return ensemble_settings(load_settings(home, env={}))


def test_screens_and_ensemble_are_read(home: Path) -> None:
    got = _settings(
        home,
        '[[screens]]\ndevice = "desk1"\ninstrument = "MESZ5@CME_Ind"\n'
        '[[screens]]\ndevice = "desk2"\ninstrument = "nq"\n'
        '[ensemble]\nfolds = 3\nembargo_minutes = 15\nunderlyings = { MES = "SPX" }\n',
    )
    assert got.devices == {"desk1": "MES", "desk2": "NQ"}  # type: ignore[attr-defined]
    assert got.underlyings == {"MES": "SPX"}  # type: ignore[attr-defined]
    assert (got.folds, got.embargo, got.poll_s) == (3, timedelta(minutes=15), 1.0)  # type: ignore[attr-defined]


def test_defaults_need_no_section(home: Path) -> None:
    got = ensemble_settings(load_settings(home, env={}))
    assert (got.devices, got.folds, got.embargo) == ({}, 5, timedelta(hours=1))


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[screens]]\ndevice = "desk1"\n', "needs device and instrument"),
        ('[[screens]]\ndevice = "d"\ninstrument = "not a name!"\n', "not a root or ATAS"),
        ("[ensemble]\nfolds = 0\n", "folds = 0 must be a number >= 1"),
        ("[ensemble]\nunderlyings = { MES = 3 }\n", "underlyings must map roots"),
    ],
)
def test_bad_entries_say_what_to_fix(home: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(home, toml)
