"""The desk's JSON API and pages on the demo data, through FastAPI's TestClient: the same
numbers as the CLI's ``--json``, the viewer token reads and changes nothing, the login gate."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from fixtures.desk import (
    BEFORE_S,
    TOKENS,
    PlantedFrames,
    cli_json,
    demo_home,
    plant_frames,
)
from fixtures.stream import PRODUCER_TOKEN, VIEWER_TOKEN
from tradelake.config import load_settings, write_default_config
from tradelake.features.setup_outcomes import HORIZON
from tradelake.instruments import InstrumentTable
from tradelake.platform import Platform
from tradelake.web.access import COOKIE
from tradelake.web.app import create_app
from tradelake.web.setups import FORM_OVERHEAD

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis")
pytestmark = pytest.mark.slow
VIEWER = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
PLANTED: list[PlantedFrames] = []  # what the desk fixture planted (one module-scoped home)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, TestClient, str]]:
    home, printed = demo_home(tmp_path_factory.mktemp("desk") / "home")
    PLANTED.append(plant_frames(home))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TOKENS.items():
            patch.setenv(name, value)
        platform = Platform(load_settings(home, env={}))
        runtime = platform.stream_runtime()  # not started: the API reads the data home only
    with TestClient(create_app(runtime, platform)) as client:
        yield home, client, printed


def test_api_numbers_equal_the_cli_json(desk: tuple[Path, TestClient, str]) -> None:
    home, client, _ = desk
    h = str(home)
    pairs = [
        ("/api/pnl/daily", ["pnl", "daily", "--home", h]),
        (
            "/api/pnl/daily?account=SIM-1042&from=2025-10-27",
            ["pnl", "daily", "--home", h, "--account", "SIM-1042", "--from", "2025-10-27"],
        ),
        ("/api/stats", ["stats", "--home", h]),
        ("/api/stats?by=instrument", ["stats", "--by", "instrument", "--home", h]),
        ("/api/stats?by=hour", ["stats", "--by", "hour", "--home", h]),
        ("/api/quality", ["quality", "--home", h]),
        ("/api/reconciliation?all=true", ["reconcile", "--all", "--home", h]),
        ("/api/feeds", ["status", "--home", h]),
        ("/api/pnl/daily?unit=r", ["pnl", "daily", "--unit", "r", "--home", h]),
        ("/api/models", ["model", "list", "--home", h]),
        ("/api/models/champions", ["model", "list", "--champions", "--home", h]),
        ("/api/models/drift", ["model", "drift", "--home", h]),
    ]
    for path, args in pairs:
        answer = client.get(path, headers=VIEWER)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json() == cli_json(*args), path
    daily = client.get("/api/pnl/daily", headers=VIEWER).json()
    assert len(daily) > 5 and {row["account"] for row in daily} == {
        "SIM-1042",
        "APEX-88731",
        "PARIS-2201",
    }


def test_round_trips_add_up_to_the_daily_pnl(desk: tuple[Path, TestClient, str]) -> None:
    _, client, _ = desk
    trips = client.get("/api/round_trips?limit=100000", headers=VIEWER).json()
    daily = client.get("/api/pnl/daily", headers=VIEWER).json()
    stats = client.get("/api/stats", headers=VIEWER).json()
    assert len(trips) == sum(row["round_trips"] for row in daily) == sum(s["trades"] for s in stats)
    # Round trips carry the journal's net (daily P&L also counts fills of open positions).
    assert round(sum(t["net_pnl"] for t in trips), 2) == round(
        sum(s["net_total"] for s in stats), 2
    )
    closes = [t["close_ts"] for t in trips]
    assert closes == sorted(closes, reverse=True)  # newest first
    symbol = trips[0]["symbol"]
    only = client.get(f"/api/round_trips?symbol={symbol}&limit=3", headers=VIEWER).json()
    assert len(only) == 3 and {t["symbol"] for t in only} == {symbol}


def test_viewer_token_reads_and_nothing_else_does(desk: tuple[Path, TestClient, str]) -> None:
    _, client, _ = desk
    client.cookies.clear()
    assert client.get("/api/pnl/daily").status_code == 401
    producer = {"Authorization": f"Bearer {PRODUCER_TOKEN}"}
    assert client.get("/api/pnl/daily", headers=producer).status_code == 403
    assert (
        client.get("/api/pnl/daily", headers={"Authorization": "Bearer wrong"}).status_code == 403
    )
    assert client.get(f"/api/stats?token={VIEWER_TOKEN}").status_code == 200
    # Read-only: no endpoint under /api takes a write.
    assert client.post("/api/pnl/daily", headers=VIEWER).status_code == 405
    assert client.delete("/api/round_trips", headers=VIEWER).status_code == 405
    assert client.get("/api/stats?by=bogus", headers=VIEWER).status_code == 422
    # Found by the fuzzing below: a limit past SQLite's 64-bit integers was a 500.
    assert client.get(f"/api/alerts?limit={2**63}", headers=VIEWER).status_code == 422
    missing = client.get("/api/alerts/nope/lineage", headers=VIEWER)
    assert missing.status_code == 404 and "tradelake alerts" in missing.json()["detail"]


def test_login_gate_and_cookie(desk: tuple[Path, TestClient, str]) -> None:
    _, client, _ = desk
    client.cookies.clear()
    for page in ("/", "/pnl", "/journal", "/data", "/setups", "/models", "/trades/x"):
        answer = client.get(page, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login?next={page}"
    wrong = client.post("/login", data={"token": "guess", "next": "/pnl"})
    assert wrong.status_code == 401 and "not the viewer token" in wrong.text
    assert COOKIE not in client.cookies
    evil = client.post(
        "/login", data={"token": VIEWER_TOKEN, "next": "//evil.example/"}, follow_redirects=False
    )
    assert evil.headers["location"] == "/"
    good = client.post(
        "/login", data={"token": VIEWER_TOKEN, "next": "/pnl"}, follow_redirects=False
    )
    assert good.status_code == 303 and good.headers["location"] == "/pnl"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/api/stats").status_code == 200  # the cookie reads the API too
    for page in ("/", "/pnl", "/journal", "/data", "/setups", "/models", "/pnl?unit=r"):
        assert client.get(page).status_code == 200, page
    client.post("/logout")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_pages_show_the_api_numbers(desk: tuple[Path, TestClient, str]) -> None:
    _, client, _ = desk
    client.post("/login", data={"token": VIEWER_TOKEN})
    stats = client.get("/api/stats").json()
    daily = client.get("/api/pnl/daily").json()
    today = client.get("/").text
    for row in stats:
        for kpi in ("net_total", "win_rate", "profit_factor", "max_drawdown"):
            assert f'data-kpi="{kpi}" data-value="{row[kpi]}"' in today
    pnl = client.get("/pnl").text
    net = round(sum(row["net_pnl"] for row in daily), 2)
    assert f'data-total-net="{net}"' in pnl
    sessions = {row["session_date"] for row in daily}
    assert len(re.findall(r'class="day (?:win|loss|flat) s\d" data-date=', pnl)) == len(sessions)
    assert '<svg class="equity"' in pnl
    account = daily[0]["account"]
    filtered = client.get(f"/pnl?account={account}").text
    own = round(sum(r["net_pnl"] for r in daily if r["account"] == account), 2)
    assert f'data-total-net="{own}"' in filtered
    assert "Dates are YYYY-MM-DD" in client.get("/pnl?date_from=yesterday").text
    journal = client.get("/journal").text
    for table in ("by-instrument", "by-hour", "by-weekday", "round-trips"):
        assert f'id="{table}"' in journal
    assert 'id="quality"' in client.get("/data").text


def test_openapi_documents_the_desk_api(desk: tuple[Path, TestClient, str]) -> None:
    _, client, _ = desk
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/pnl/daily", "/api/stats", "/api/round_trips", "/api/feeds", "/api/quality"):
        assert path in paths
    assert "/login" not in paths and "/" not in paths


def test_demo_ends_by_pointing_at_the_desk(desk: tuple[Path, TestClient, str]) -> None:
    home, _, printed = desk
    last = printed.strip().splitlines()[-1]
    assert last.startswith("Open the desk: TRADELAKE_VIEWER_TOKEN=")
    assert f"tradelake serve --home {home}" in last and "http://127.0.0.1:8700/" in last


def test_openapi_fuzzing_finds_no_server_error(desk: tuple[Path, TestClient, str]) -> None:
    """schemathesis against the app's own /openapi.json with the viewer token: no generated
    input gives a 500 (the SSE stream is left out: it never ends)."""
    _, client, _ = desk
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    schema = schema.exclude(path="/api/alerts/stream")
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: Any) -> None:
            response = case.call(headers=VIEWER)
            assert response.status_code < 500, (case.path, case.query, response.text[:300])

        no_server_error()
        checked.append(operation.path)
    assert {"/api/pnl/daily", "/api/stats", "/api/round_trips", "/api/quality"} <= set(checked)


def test_an_empty_data_home_says_what_to_do(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_default_config(home)
    monkeypatch.setenv("TRADELAKE_VIEWER_TOKEN", VIEWER_TOKEN)
    platform = Platform(load_settings(home, env={}))
    with TestClient(create_app(platform.stream_runtime(), platform)) as client:
        answer = client.get("/api/pnl/daily", headers=VIEWER)
        assert answer.status_code == 409 and "tradelake demo" in answer.json()["detail"]
        assert client.get("/api/feeds", headers=VIEWER).json() == []
        client.post("/login", data={"token": VIEWER_TOKEN})
        for page in ("/", "/pnl", "/journal", "/data", "/models"):
            shown = client.get(page)
            assert shown.status_code == 200 and "no feature store" in shown.text, page
        assert client.get("/setups").status_code == 200


def test_r_is_money_over_the_risk_of_its_account_and_root(
    desk: tuple[Path, TestClient, str],
) -> None:
    """1R = the account's average loss on the root (no [desk] risk_per_trade in the demo),
    computed here in SQL independently of the polars code behind the API."""
    home, client, _ = desk
    platform = Platform(load_settings(home, env={}))
    expected = {
        (row["account"], row["symbol"]): round(row["avg_loss"], 2)
        for row in platform.features.query(
            "SELECT t.account, s.symbol, avg(abs(t.net_pnl)) FILTER (WHERE t.net_pnl < 0) "
            "AS avg_loss FROM round_trips t JOIN (SELECT DISTINCT symbol, root FROM trades) s "
            "USING (root) GROUP BY ALL"
        ).iter_rows(named=True)
    }
    money = client.get("/api/pnl/daily", headers=VIEWER).json()
    in_r = client.get("/api/pnl/daily?unit=r", headers=VIEWER).json()
    assert [{k: r[k] for k in money[0]} for r in in_r] == money  # the $ columns are unchanged
    for row in in_r:
        assert row["risk"] == expected[(row["account"], row["instrument"])]
        assert row["risk_basis"] == "average loss"
        assert row["net_r"] == pytest.approx(row["net_pnl"] / row["risk"], rel=1e-9)
    trips = client.get("/api/round_trips?unit=r&limit=100000", headers=VIEWER).json()
    for trip in trips:
        assert trip["net_r"] == pytest.approx(trip["net_pnl"] / trip["risk"], rel=1e-9)
    client.post("/login", data={"token": VIEWER_TOKEN})
    page = client.get("/pnl?unit=r").text
    total = round(sum(row["net_r"] for row in in_r), 2)
    assert f'data-total-net-r="{total}"' in page
    assert 'href="/pnl?unit=money"' in page  # the toggle back, a plain link
    journal = client.get("/journal?unit=r").text
    assert journal.count("data-net-r=") == min(len(trips), 200)


def test_setups_upload_returns_the_class_vision_classify_gives(
    desk: tuple[Path, TestClient, str], tmp_path: Path
) -> None:
    home, client, _ = desk
    planted = PLANTED[0]
    shot = tmp_path / "shot.png"
    shot.write_bytes(planted.before_png)
    (cli,) = cli_json("vision", "classify", str(shot), "--home", str(home))
    files = {"image": ("shot.png", planted.before_png, "image/png")}
    answer = client.post("/api/setups/classify", headers=VIEWER, files=files)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["signal"] == cli["signal"] and report["prob"] == pytest.approx(cli["prob"])
    assert report["probs"] == pytest.approx(cli["probs"])
    # The same picture was planted as a frame: it is the nearest, and its outcome is the
    # round trip entered soonest after it on the screen's instrument.
    nearest = report["similar"][0]
    assert nearest["frame_id"] == planted.before and nearest["score"] == pytest.approx(1.0)
    outcome = nearest["outcome"]
    frame_ts = datetime.fromisoformat(nearest["ts"])
    entered = datetime.fromisoformat(outcome["open_ts"])
    assert frame_ts <= entered <= frame_ts + HORIZON
    trip = client.get(
        f"/api/round_trips/{quote(outcome['round_trip_id'], safe='')}", headers=VIEWER
    )
    assert trip.status_code == 200
    assert trip.json()["round_trip"]["net_pnl"] == outcome["net_pnl"]
    # Nothing was stored: classifying again searches the same frames.
    again = client.post("/api/setups/classify", headers=VIEWER, files=files).json()
    assert again["searched"] == report["searched"]
    # Bounded and checked: too large, not an image, no file.
    limit = Platform(load_settings(home, env={})).stream_settings.max_frame_bytes
    big = {"image": ("big.png", b"0" * (limit + FORM_OVERHEAD + 1), "image/png")}
    assert client.post("/api/setups/classify", headers=VIEWER, files=big).status_code == 413
    junk = {"image": ("junk.png", b"not an image", "image/png")}
    assert client.post("/api/setups/classify", headers=VIEWER, files=junk).status_code == 422
    assert client.post("/api/setups/classify", headers=VIEWER).status_code == 422
    client.cookies.clear()
    assert client.post("/api/setups/classify", files=files).status_code == 401
    client.post("/login", data={"token": VIEWER_TOKEN})
    page = client.post("/setups", files=files).text
    assert f'data-signal="{cli["signal"]}"' in page and planted.before in page


def test_trade_page_shows_only_what_was_known_at_entry(
    desk: tuple[Path, TestClient, str],
) -> None:
    _, client, _ = desk
    planted = PLANTED[0]
    path = quote(planted.round_trip_id, safe="")
    doc = client.get(f"/api/round_trips/{path}", headers=VIEWER).json()
    assert doc["frame"]["frame_id"] == planted.before  # not the later one, though it is closer
    assert doc["frame"]["age_s"] == BEFORE_S
    assert doc["entry_features"]["chart_age_s"] == BEFORE_S
    assert doc["entry_features"]["chart_signal"] == doc["frame"]["signal"]
    opened = datetime.fromisoformat(doc["round_trip"]["open_ts"])
    assert datetime.fromisoformat(doc["frame"]["ts"]) == opened - timedelta(seconds=BEFORE_S)
    assert len(doc["fills"]) == doc["round_trip"]["fills"]
    assert doc["ensemble"]["model_version"] is None  # the demo trains no ensemble
    assert "tradelake model train signal" in doc["ensemble"]["note"]
    client.post("/login", data={"token": VIEWER_TOKEN})
    page = client.get(f"/trades/{path}").text
    assert f'data-frame-id="{planted.before}"' in page and planted.after not in page
    assert "No model" in page
    _assert_prices_at_tick_precision(doc, page)
    assert client.get(f"/trades/{path}-nope").status_code == 404
    assert client.get("/api/round_trips/nope", headers=VIEWER).status_code == 404
    thumb = client.get(f"/api/frames/{planted.before}/thumbnail", headers=VIEWER)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    assert f'href="/trades/{path}"' in client.get("/journal").text


def _assert_prices_at_tick_precision(doc: dict[str, Any], page: str) -> None:
    """Fills show at the root's tick precision (MES: 0.25, two places), and the average
    entry price has at least those places and reads back as its value."""
    spec = InstrumentTable().get(doc["round_trip"]["root"])
    assert spec is not None
    exponent = Decimal(repr(spec.tick_size)).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    places = max(-exponent, 0)
    for fill in doc["fills"]:
        assert f">{fill['price']:,.{places}f}</td>" in page
        if places != 3:
            assert f">{fill['price']:,.3f}</td>" not in page
    shown = re.search(r"data-entry-price>([\d,.]+)<", page)
    assert shown is not None
    assert len(shown[1].partition(".")[2]) >= places
    assert float(shown[1].replace(",", "")) == pytest.approx(doc["round_trip"]["entry_price"])
