"""Issue 10 item 2: a provider that repeats its key must not leak it anywhere we write or print.

A loopback server plays three providers that echo the key: FRED answering 200 with an error
body that quotes it (whole-file quarantine), FRED with an observation whose value is the key
(row quarantine), and a CSV provider keyed by a query parameter no name pattern knows
(``apiToken``) that answers 404 quoting the key and echoes it in a response header (httpcore
logs response headers at DEBUG). Every output the issue lists is then searched for the key.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from tradelake.cli import app
from tradelake.redaction import MASK, Redactor

KEY = "sk-LEAKY-0f-the-desk-7d1e"
KEY_ENV = "TRADELAKE_TEST_LEAKY_KEY"


def _fred_error() -> bytes:
    message = f"Bad Request. The value for variable api_key ({KEY}) is not registered."
    return json.dumps({"error_code": 400, "error_message": message}).encode()


def _fred_rows() -> bytes:
    rows = [
        {"realtime_start": "2026-01-05", "realtime_end": "9999-12-31", "date": d, "value": v}
        for d, v in (("2026-01-01", "1.5"), ("2026-02-01", f"n/a {KEY}"))
    ]
    return json.dumps({"count": 2, "offset": 0, "limit": 100000, "observations": rows}).encode()


ROUTES: dict[str, tuple[int, bytes]] = {
    "/fred/error": (200, _fred_error()),
    "/fred/rows": (200, _fred_rows()),
    "/csv": (404, f"unknown apiToken {KEY}".encode()),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status, body = ROUTES.get(urlsplit(self.path).path, (404, b"no route"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo-Key", KEY)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _config(base: str) -> str:
    def entry(name: str, kind: str, path: str, extra: str) -> str:
        return (
            f'[[feeds]]\nname = "{name}"\nkind = "{kind}"\nurl = "{base}{path}"\n'
            f'schedule = "0 * * * *"\napi_key_env = "{KEY_ENV}"\n{extra}\n'
        )

    return "\n".join(
        [
            entry("cpi", "fred", "/fred/error", 'series_id = "CPI"'),
            entry("gdp", "fred", "/fred/rows", 'series_id = "GDP"'),
            entry(
                "rates",
                "csv",
                "/csv",
                'auth_param = "apiToken"\ndate_column = "d"\nvalue_column = "v"\nseries_id = "R"',
            ),
        ]
    )


def test_a_key_echoed_by_providers_reaches_no_output(
    home: Path,
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_ENV, KEY)
    (home / "tradelake.toml").write_text(_config(provider), encoding="utf-8")
    runner = CliRunner()
    where = ["--home", str(home)]

    pulled_json = runner.invoke(app, ["pull", *where, "--json"])
    pulled = runner.invoke(app, ["pull", *where])
    status = runner.invoke(app, ["status", *where, "--json"])
    replayed = runner.invoke(app, ["replay", *where, "--json"])

    # The pulls really failed in the ways under test (so the key had a way out).
    by_feed = {row["feed"]: row for row in json.loads(pulled_json.stdout)}
    assert pulled_json.exit_code == 2, pulled_json.output
    assert by_feed["cpi"]["status"] == "rejected"
    assert f"variable api_key ({MASK})" in by_feed["cpi"]["rejected"][0]
    assert by_feed["gdp"]["quarantined"] == 1
    assert by_feed["rates"]["status"] == "failed"
    assert f"apiToken={MASK}" in by_feed["rates"]["error"]
    assert "payload quarantined" in pulled.stderr
    assert [row["feed"] for row in json.loads(status.stdout)] == ["cpi", "gdp", "rates"]
    assert len(json.loads(replayed.stdout)["errors"]) == 1

    outputs = {
        "pull --json": pulled_json.output,
        "pull stderr": pulled.stderr,
        "pull stdout": pulled.stdout,
        "status --json": status.output,
        "replay --json": replayed.output,
        "logs (DEBUG, httpcore included)": caplog.text,
    }
    written = [
        path
        for folder in ("state", "staging", "landing/_manifest")
        for path in (home / folder).rglob("*")
        if path.is_file()
    ]
    assert any("_quarantine/_files" in str(p) for p in written)
    assert any("_quarantine/macro_raw" in str(p) for p in written)
    assert any("httpcore" in record.name for record in caplog.records)
    leaks = [name for name, text in outputs.items() if KEY in text]
    leaks += [str(p.relative_to(home)) for p in written if KEY.encode() in p.read_bytes()]
    assert leaks == []


def test_the_redactor_masks_encoded_forms_and_skips_trivial_values() -> None:
    redactor = Redactor()
    redactor.register('a/b c+d"e')
    redactor.register("abc")  # too short to mask safely: every "abc" would vanish
    text = 'raw a/b c+d"e url a%2Fb%20c%2Bd%22e form a%2Fb+c%2Bd%22e json "a/b c+d\\"e" abc'

    assert redactor.mask_values(text) == f'raw {MASK} url {MASK} form {MASK} json "{MASK}" abc'
    assert redactor.redact_data({"k": ['x a/b c+d"e', 3]}) == {"k": [f"x {MASK}", 3]}
    assert redactor.redact("GET /x?key=plain&q=1") == f"GET /x?key={MASK}&q=1"
