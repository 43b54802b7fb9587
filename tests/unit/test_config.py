from __future__ import annotations

from pathlib import Path

import pytest

from tradelake.config import load_settings, machine_timezone, read_secret, write_default_config
from tradelake.errors import ConfigError


def test_defaults_need_no_file(home: Path) -> None:
    settings = load_settings(home, env={})
    assert settings.landing_url == str(home / "landing")
    assert settings.features_path == home / "features.duckdb"
    assert settings.atas_timezone == "UTC"


def test_file_then_env_override(home: Path) -> None:
    write_default_config(home, timezone="UTC")
    text = (
        (home / "tradelake.toml")
        .read_text()
        .replace('timezone = "UTC"', 'timezone = "Europe/Paris"')
    )
    (home / "tradelake.toml").write_text(text)
    assert load_settings(home, env={}).atas_timezone == "Europe/Paris"
    env = {"TRADELAKE_SOURCES__ATAS__TIMEZONE": "America/Chicago"}
    assert load_settings(home, env=env).atas_timezone == "America/Chicago"


def test_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELAKE_HOME", str(tmp_path))
    assert load_settings().home == tmp_path.resolve()


def test_init_refuses_to_clobber(home: Path) -> None:
    write_default_config(home)
    with pytest.raises(ConfigError, match="--force"):
        write_default_config(home)


def test_bad_timezone_names_the_setting(home: Path) -> None:
    settings = load_settings(home, env={"TRADELAKE_SOURCES__ATAS__TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ConfigError, match=r"sources\.atas\.timezone"):
        _ = settings.atas_timezone


def test_invalid_toml_is_a_config_error(home: Path) -> None:
    (home / "tradelake.toml").write_text("[landing\nurl=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(home, env={})


def test_secret_lookup_lists_every_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as info:
        read_secret("fred", env_var="FRED_KEY", file=str(tmp_path / "missing"))
    assert "FRED_KEY" in str(info.value) and "missing" in str(info.value)
    (tmp_path / "key").write_text("s3cret\n")
    assert read_secret("fred", env_var="FRED_KEY", file=str(tmp_path / "key")) == "s3cret"
    monkeypatch.setenv("FRED_KEY", "fromenv")
    assert read_secret("fred", env_var="FRED_KEY", file=None) == "fromenv"


def test_vision_and_mlflow_defaults(home: Path) -> None:
    settings = load_settings(home, env={})
    assert settings.vision_model is None
    assert settings.mlflow_tracking_uri == f"sqlite:///{home / 'mlflow.db'}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("models:/chart_cnn@champion", "models:/chart_cnn@champion"),
        ("runs:/abc/model", "runs:/abc/model"),
        ("models/mine.pt", "{home}/models/mine.pt"),
        ("/opt/chart.pt", "/opt/chart.pt"),
    ],
)
def test_vision_model_uri_or_path(home: Path, value: str, expected: str) -> None:
    settings = load_settings(home, env={"TRADELAKE_VISION__MODEL": value})
    assert settings.vision_model == expected.format(home=home)


def test_mlflow_server_from_file(home: Path) -> None:
    (home / "tradelake.toml").write_text('[mlflow]\ntracking_uri = "http://mlflow:5000"\n')
    assert load_settings(home, env={}).mlflow_tracking_uri == "http://mlflow:5000"


def test_default_config_documents_vision_and_mlflow(home: Path) -> None:
    write_default_config(home)
    settings = load_settings(home, env={})
    assert settings.vision_model is None and settings.raw["mlflow"]["tracking_uri"] == ""


def test_watch_timings_have_defaults_and_refuse_nonsense(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={"TRADELAKE_WATCH__RETRY_S": "0.5"})
    assert [settings.watch_seconds(k) for k in ("settle_s", "give_up_s", "retry_s")] == [
        1.0,
        120.0,
        0.5,
    ]
    broken = load_settings(tmp_path, env={"TRADELAKE_WATCH__GIVE_UP_S": "-1"})
    with pytest.raises(ConfigError, match=r"watch.give_up_s = -1 must be a number of seconds"):
        broken.watch_seconds("give_up_s")


def test_the_atas_zone_is_unset_until_configured(home: Path) -> None:
    write_default_config(home)
    settings = load_settings(home, env={})
    assert settings.atas_timezone_configured is None
    assert settings.atas_timezone == "UTC"  # the fallback ingest warns about
    assert '# timezone = "Europe/Berlin"' in (home / "tradelake.toml").read_text()
    write_default_config(home, overwrite=True, timezone="Europe/Paris")
    assert load_settings(home, env={}).atas_timezone_configured == "Europe/Paris"
    env = {"TRADELAKE_SOURCES__ATAS__TIMEZONE": "Asia/Tokyo"}
    assert load_settings(home, env=env).atas_timezone_configured == "Asia/Tokyo"
    with pytest.raises(ConfigError, match="not an IANA time zone"):
        write_default_config(home, overwrite=True, timezone="Mars/Olympus")


def test_machine_timezone_reads_tz_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", ":America/Chicago")
    assert machine_timezone() == "America/Chicago"
    monkeypatch.setenv("TZ", "Not/AZone")
    assert machine_timezone() != "Not/AZone"
