"""Settings: one TOML file in the data home, overridden by ``TRADELAKE_*`` environment variables.

Resolution order for the data home: ``--home`` flag, then ``TRADELAKE_HOME``, then the current
directory. Inside it, ``tradelake.toml`` is optional: every setting has an embedded default so a
fresh machine needs no server and no file. Any key can be overridden from the environment with
``TRADELAKE_<SECTION>__<KEY>`` (double underscore between levels), e.g.
``TRADELAKE_SOURCES__ATAS__TIMEZONE=America/Chicago``. Secrets are never stored here: a feed names
the environment variable or file that holds its key (see :func:`read_secret`).
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tradelake.errors import ConfigError
from tradelake.redaction import register_secret

CONFIG_FILE = "tradelake.toml"
ENV_PREFIX = "TRADELAKE_"
MODEL_URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")
# What ATAS times are read in when no zone is configured (ingest warns per file).
FALLBACK_TIMEZONE = "UTC"
_SECRET_SETTING_RE = re.compile(r"(?i)(key|token|secret|password).*_(env|file)$")
_SECRET_REF_SETTING_RE = re.compile(r"(?i)_secret$")

DEFAULT_TOML = """\
# tradelake configuration. Every key is optional; the values below are the defaults.
# Any key can be overridden with an environment variable TRADELAKE_<SECTION>__<KEY>,
# e.g. TRADELAKE_SOURCES__ATAS__TIMEZONE=America/Chicago.

[landing]
# Where raw bytes are kept, append-only. A relative path is inside the data home;
# use "s3://bucket/prefix" to land in S3 (install the [s3] extra; set [s3] below).
url = "landing"

[staging]
# Validated Parquet, partitioned by date and source. Relative paths are inside the data home;
# use "s3://bucket/prefix" to stage in S3: the writer and the feature store then work on a
# local working copy, `cache`, synced with the bucket by every writing command.
url = "staging"
# cache = "staging"   # (S3 only) the local working copy; deleting it is safe

[features]
# The feature store's name: its published catalog is <stem>.catalog.json, its files <stem>.tables/.
path = "features.duckdb"
# Seconds a writer (ingest, refresh, replay) waits for another one to finish before giving up.
lock_timeout = 600

[s3]
# endpoint_url = "http://127.0.0.1:9000"   # for S3-compatible stores; credentials come from
# the usual AWS_* environment variables or profile, never from this file.

[sources.atas]
# Time zone of the machine that exported the ATAS workbooks (IANA name): ATAS writes local
# wall-clock times without an offset. Unset, times are read as UTC and every ingested export
# gets a warning. Override per run with `tradelake ingest --tz ZONE`.
<ATAS_TIMEZONE>
# Folder watched by `tradelake watch` / `tradelake run`.
input_dir = "input"

[watch]
# `tradelake watch` / `tradelake run`: a dropped file is ingested once its size and mtime have
# not changed for settle_s and its format says it is whole (xlsx zip directory, PNG IEND,
# JPEG EOI). One still incomplete after give_up_s is reported once and not ingested. A batch
# that failed because the feature store was busy is tried again after retry_s.
settle_s = 1.0
give_up_s = 120.0
retry_s = 5.0

[vision]
# The chart classifier that scores screenshots (`tradelake ingest shot.png`, `tradelake vision`).
# Empty = the checkpoint shipped with tradelake. Else a .pt file (relative to the data home) or
# an MLflow model URI such as "models:/chart_cnn@champion" (read from [mlflow] below).
model = ""

[mlflow]
# Experiment tracking and model registry. Empty = embedded: sqlite:///<home>/mlflow.db with
# artifacts in <home>/mlartifacts, no server. Set a URL (e.g. "http://mlflow:5000") for a server.
tracking_uri = ""

# The signal ensemble (`tradelake model train signal`, POST /api/score on `tradelake serve`).
# [ensemble]
# folds = 5                 # walk-forward test blocks
# embargo_minutes = 60      # gap between a training trip's close and the test block
# poll_s = 1.0              # how often serve checks signal_ensemble@champion for a move
# underlyings = { MES = "SPX", NQ = "NDX" }   # option chain per root (default: the root)

# The desk's R multiples (P&L / risk): money per 1R per trade, in the instrument's currency.
# Unset: 1R is the account's average loss on the instrument's root (tradelake.analytics.risk).
# [desk]
# risk_per_trade = 100      # or a table: [desk.risk_per_trade] default = 100, "SIM-1042:MES" = 20

# Which instrument each stream device shows (its chart signals join that root's trades).
# [[screens]]
# device = "desk1"
# instrument = "MES"

# Jobs `tradelake run` fires on a cron schedule (the same Platform methods Airflow would call).
# [[jobs]]
# name = "signal-hourly"
# job = "train_signal"
# schedule = "5 * * * *"

[stream]
# The real-time path (`tradelake serve`). "memory" = in-process queue, every role in one process.
queue = "memory"
host = "127.0.0.1"          # bind address; use 0.0.0.0 only behind a firewall
port = 8700
max_frame_bytes = 8388608   # larger frames are answered with an error
max_frame_age_s = 10.0      # frames captured longer ago than this are scored but never alert
batch_wait_ms = 5.0         # how long the CV service waits to fill a micro-batch
max_batch = 16
cv_threads = 0              # torch threads of the CV service; 0 = one per core
model_poll_s = 5.0          # how often a models:/name@alias [vision] model is checked for moves
refresh_s = 60.0            # feature-store refresh while serving (0 = off); never per frame
devices = []                # allowed device names; empty = any name of letters, digits, . _ -
# Tokens are never written here: name the environment variable or file that holds each.
producer_token_env = "TRADELAKE_PRODUCER_TOKEN"   # may only send frames
viewer_token_env = "TRADELAKE_VIEWER_TOKEN"       # may only read alerts
# producer_token_file = "secrets/producer.token"

# Alert rules: fire when a frame's signal matches, at most once per cooldown per device.
# [[alerts]]
# name = "flags"
# signals = ["bull_flag", "bear_flag"]
# min_prob = 0.8
# devices = []              # empty = every device
# cooldown_s = 60
# sinks = ["dashboard", "slack"]   # "dashboard" and "log" always exist

# Alert sinks: type = "webhook" (Slack-compatible), "ntfy" (phone push), "log", "dashboard".
# [[sinks]]
# name = "slack"
# type = "webhook"
# url_env = "SLACK_WEBHOOK_URL"   # or url_file = "..."; or url = "..." when not a secret
# retries = 5
# backoff_s = 0.5

[metrics]
# Prometheus /metrics of `tradelake run` and `tradelake serve --role cv` (serve's other roles
# expose /metrics on their own web port). 0 = off. See docs/operations.md.
host = "127.0.0.1"
port = 9464

[lineage]
# OpenLineage run events: always appended to <home>/lineage/events.jsonl (`tradelake lineage`
# reads them); also POSTed to an OpenLineage endpoint (e.g. Marquez) when url is set.
namespace = "tradelake"
url = ""                      # e.g. "http://marquez:5000" (events go to url + /api/v1/lineage)
# api_key_env = "OPENLINEAGE_API_KEY"   # bearer token for the endpoint, if it needs one

[quality_alerts]
# Data-quality alerts, one message per new problem, to sinks named from [[sinks]] ("log" always
# exists). Empty sinks = off.
sinks = []
quarantined_rows = 0          # a file with more quarantined rows than this alerts (per rule)
feed_failures = 3             # a feed failing this many pulls in a row alerts
feed_late_s = 900.0           # a feed with no success this long past a scheduled run alerts
stream_stale_s = 120.0        # `serve`: a device with no frame scored for this long alerts

# Instrument specs override or extend the built-in table, keyed by root symbol:
# [instruments.ES]
# tick_size = 0.25
# point_value = 50.0
# currency = "USD"
# exchange_tz = "America/Chicago"
# session_open = "17:00"
# max_qty = 10000          # contracts per fill or journal row; larger ones are quarantined
# max_price = 10000000.0   # prices above this are quarantined (qty/price_out_of_bounds)
"""

_DEFAULTS: dict[str, Any] = {
    "landing": {"url": "landing"},
    "staging": {"url": "staging"},
    "features": {"path": "features.duckdb", "lock_timeout": 600},
    "s3": {},
    "sources": {"atas": {"input_dir": "input"}},
    "instruments": {},
    "feeds": [],
    "watch": {"settle_s": 1.0, "give_up_s": 120.0, "retry_s": 5.0},
    "vision": {"model": ""},
    "mlflow": {"tracking_uri": ""},
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one data home. Paths are absolute; URLs may be ``s3://``."""

    home: Path
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def landing_url(self) -> str:
        return self._resolve_url(self.raw["landing"]["url"])

    @property
    def staging_url(self) -> str:
        """Where staging lives: a local folder or an object store URL (``s3://``)."""
        return self._resolve_url(self.raw["staging"]["url"])

    @property
    def staging_remote(self) -> bool:
        """Whether staging is on an object store (:mod:`tradelake.staging.mirror`)."""
        return "://" in self.staging_url and not self.staging_url.startswith("file://")

    @property
    def staging_dir(self) -> Path:
        """The folder the staging writer and the feature store use: staging itself, or for an
        object store its local working copy (``[staging] cache``, default ``staging``)."""
        if not self.staging_remote:
            return Path(self.staging_url.removeprefix("file://"))
        return self.home / str(self.raw["staging"].get("cache") or "staging")

    @property
    def features_path(self) -> Path:
        return self.home / str(self.raw["features"]["path"])

    @property
    def lock_timeout(self) -> float:
        """``[features] lock_timeout``: seconds a writer waits for another one."""
        value = self.raw["features"].get("lock_timeout", 600)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(
                f"[features] lock_timeout = {value!r} is not a number of seconds >= 0; "
                "set it in tradelake.toml or TRADELAKE_FEATURES__LOCK_TIMEOUT."
            )
        return float(value)

    @property
    def input_dir(self) -> Path:
        return self.home / str(self.raw["sources"]["atas"]["input_dir"])

    @property
    def state_dir(self) -> Path:
        """Small mutable bookkeeping (feed cursors, watcher state): never the data itself."""
        return self.home / "state"

    def watch_seconds(self, key: str) -> float:
        """``[watch] <key>`` (``settle_s``, ``give_up_s``, ``retry_s``): seconds, not negative."""
        value = self.raw.get("watch", {}).get(key, _DEFAULTS["watch"][key])
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"watch.{key} = {value!r} must be a number of seconds (>= 0).")
        return float(value)

    @property
    def atas_timezone(self) -> str:
        """The configured ATAS zone, else :data:`FALLBACK_TIMEZONE` (callers that can say so
        check :attr:`atas_timezone_configured` first)."""
        return self.atas_timezone_configured or FALLBACK_TIMEZONE

    @property
    def atas_timezone_configured(self) -> str | None:
        """``[sources.atas] timezone`` from the file or ``TRADELAKE_SOURCES__ATAS__TIMEZONE``,
        checked; None when neither sets it."""
        value = self.raw["sources"]["atas"].get("timezone")
        if value is None or str(value).strip() == "":
            return None
        return validate_timezone(str(value), "sources.atas.timezone")

    @property
    def s3_options(self) -> dict[str, Any]:
        """fsspec storage options for ``s3://`` URLs (endpoint only; credentials from AWS_*)."""
        options = dict(self.raw.get("s3", {}))
        endpoint = options.pop("endpoint_url", None)
        return {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}

    @property
    def instruments(self) -> Mapping[str, Mapping[str, Any]]:
        return dict(self.raw.get("instruments", {}))

    @property
    def feeds(self) -> list[Mapping[str, Any]]:
        return list(self.raw.get("feeds", []))

    @property
    def vision_model(self) -> str | None:
        """``[vision] model``: None for the shipped checkpoint, else a model URI or ``.pt`` path.

        MLflow URIs (``models:/...``, ``runs:/...``) pass through; a relative file path is
        inside the data home.
        """
        value = str(self.raw.get("vision", {}).get("model") or "").strip()
        if not value:
            return None
        if value.startswith(MODEL_URI_SCHEMES):
            return value
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else self.home / path)

    @property
    def mlflow_tracking_uri(self) -> str:
        """``[mlflow] tracking_uri``, or the embedded store ``sqlite:///<home>/mlflow.db``."""
        value = str(self.raw.get("mlflow", {}).get("tracking_uri") or "").strip()
        return value or f"sqlite:///{self.home / 'mlflow.db'}"

    def _resolve_url(self, url: str) -> str:
        if "://" in url:
            return url
        path = Path(url)
        return str(path if path.is_absolute() else self.home / path)


def resolve_home(home: str | Path | None = None) -> Path:
    """The data home: explicit argument, else ``TRADELAKE_HOME``, else the current directory."""
    chosen = home if home is not None else os.environ.get(f"{ENV_PREFIX}HOME") or Path.cwd()
    return Path(chosen).expanduser().resolve()


def load_settings(home: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``tradelake.toml`` (if any) from the home and apply environment overrides."""
    root = resolve_home(home)
    merged = copy.deepcopy(_DEFAULTS)
    file = root / CONFIG_FILE
    if file.exists():
        try:
            _deep_merge(merged, tomllib.loads(file.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file} is not valid TOML ({exc}); fix the line it names.") from exc
    _apply_env(merged, os.environ if env is None else env)
    register_configured_secrets(merged)
    return Settings(home=root, raw=merged)


def write_default_config(
    home: Path, *, overwrite: bool = False, timezone: str | None = None
) -> Path:
    """Write the commented default ``tradelake.toml`` with ``[sources.atas] timezone`` set to
    ``timezone`` (left commented out when None); refuses to clobber an edited file."""
    target = config_target(home, overwrite=overwrite)
    home.mkdir(parents=True, exist_ok=True)
    if timezone is None:
        line = '# timezone = "Europe/Berlin"'
    else:
        line = f'timezone = "{validate_timezone(timezone, "sources.atas.timezone")}"'
    target.write_text(DEFAULT_TOML.replace("<ATAS_TIMEZONE>", line), encoding="utf-8")
    return target


def config_target(home: Path, *, overwrite: bool = False) -> Path:
    """Where ``tradelake.toml`` goes; refuses (ConfigError) when one exists and ``overwrite``
    is not set, so ``init`` can check before it asks anything."""
    target = home / CONFIG_FILE
    if target.exists() and not overwrite:
        raise ConfigError(f"{target} already exists; edit it, or pass --force to rewrite it.")
    return target


def machine_timezone() -> str | None:
    """This machine's IANA zone: ``$TZ``, else the zone ``/etc/localtime`` links to, else
    ``/etc/timezone``; None when none of them names a valid zone."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for name in candidates:
        if name and _is_zone(name):
            return name
    return None


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def validate_timezone(name: str, setting: str) -> str:
    """Return ``name`` if it is an IANA zone, else raise a ConfigError naming the setting."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{setting} = {name!r} is not an IANA time zone; use a name like 'Europe/Berlin'."
        ) from exc
    return name


def read_secret(name: str, *, env_var: str | None, file: str | None, ref: str | None = None) -> str:
    """Return a secret from a reference (``ref``: ``env:``/``file:``/``aws-sm:``, see
    :mod:`tradelake.secret_refs`), else an environment variable or a file, listing every place
    on failure.

    The value is registered with :mod:`tradelake.redaction` before it is returned, so every
    output of this process (console, state, quarantine, logs) masks it from then on.
    """
    if ref:
        from tradelake.secret_refs import resolve

        return resolve(ref, where=f"the secret reference of {name}")
    value = _secret_value(env_var, file)
    if value:
        register_secret(value)
        return value
    looked = [f"environment variable {env_var}" if env_var else "no api_key_env set"]
    looked.append(f"file {file}" if file else "no api_key_file set")
    raise ConfigError(f"secret for {name} not found; looked at: {', '.join(looked)}.")


def _secret_value(env_var: str | None, file: str | None) -> str | None:
    if env_var and os.environ.get(env_var):
        return os.environ[env_var].strip()
    if file:
        path = Path(file).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip() if path.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None
    return None


def register_configured_secrets(config: Any) -> None:
    """Register every secret the settings name (``api_key_env``, ``token_file``, ...) for masking.

    Commands that never read a key (``replay``, ``status``) still print what pulls wrote and
    re-parse what providers sent, so every configured key is masked from the moment the
    settings load. A setting names a secret when it ends in ``_env`` or ``_file`` and its name
    says key, token, secret or password; one that cannot be read is skipped here (the command
    that needs it reports that, listing where it looked).
    """
    if isinstance(config, Mapping):
        for key, value in config.items():
            if isinstance(value, str) and _SECRET_REF_SETTING_RE.search(str(key)):
                _register_reference(value)
            elif isinstance(value, str) and _SECRET_SETTING_RE.search(str(key)):
                env_var = value if str(key).endswith("_env") else None
                secret = _secret_value(env_var, None if env_var else value)
                if secret:
                    register_secret(secret)
            else:
                register_configured_secrets(value)
    elif isinstance(config, list):
        for item in config:
            register_configured_secrets(item)


def _register_reference(reference: str) -> None:
    """Mask a referenced secret that is cheap to read (env, file); a vault's is masked when a
    command resolves it, so loading settings never calls a remote API."""
    from tradelake.secret_refs import resolve

    if reference.startswith(("env:", "file:")):
        # One that cannot be read is the concern of the command that needs it (it says where).
        with contextlib.suppress(ConfigError):
            resolve(reference, where="a *_secret setting")


def _deep_merge(base: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def _apply_env(config: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = config
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name} overrides {part!r}, which is not a table in the config.")
        node[path[-1]] = _parse_env_value(value)


def _parse_env_value(value: str) -> Any:
    """Environment values are TOML scalars when they parse as one, else plain strings."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value
