"""The dashboard server over real HTTP on 127.0.0.1: page, JSON, metrics, access control."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from rubix_sync.errors import ConfigError
from rubix_sync.fleet.dashboard import Dashboard, DashboardAuth, is_loopback


@pytest.fixture
def engine(live_url) -> Iterator[sa.Engine]:
    e = sa.create_engine(live_url)
    try:
        yield e
    finally:
        e.dispose()


def request(
    board: Dashboard, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", board.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_page_json_and_metrics(engine):
    with Dashboard(engine, port=0, refresh_seconds=1) as board:
        status, headers, body = request(board, "/")
        assert status == 200
        assert headers["content-type"] == "text/html; charset=utf-8"
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        nonce = csp.split("'nonce-")[1].split("'")[0]
        page = body.decode()
        assert f'<script nonce="{nonce}">' in page
        assert "{{nonce}}" not in page
        assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in page

        status, headers, body = request(board, "/api/fleet")
        assert status == 200 and headers["cache-control"] == "no-store"
        data = json.loads(body)
        assert [m["machine_name"] for m in data["machines"]] == [
            "vm-a",
            "vm-b",
            "vm-c",
            "vm-d",
            "vm-e",
        ]
        assert data["totals"] == {
            "machines": 5,
            "running": 1,
            "stale": 1,
            "failed": 1,
            "records": 10800,
            "rate": data["totals"]["rate"],
            "errors": 167,
        }
        assert 9.0 < data["totals"]["rate"] <= 10.0
        assert len(data["hourly"]) == 25
        assert sum(b["records_processed"] for b in data["hourly"]) == 18
        assert {e["source"] for e in data["errors"]} == {"token", "database", "session"}

        status, _, body = request(board, "/metrics")
        text = body.decode()
        assert status == 200
        assert 'rubix_fleet_records{machine="vm-a",state="RUNNING"} 6000.0' in text
        assert 'rubix_fleet_databases_total{machine="vm-c",state="COMPLETED"} 5.0' in text

        assert request(board, "/nope")[0] == 404
        assert request(board, "/api/fleet", method="POST")[0] == 405
        assert request(board, "/api/fleet", method="DELETE")[0] == 405


def test_loopback_rejects_foreign_host_header(engine):
    with Dashboard(engine, port=0) as board:
        status, _, body = request(board, "/api/fleet", headers={"Host": "evil.example:80"})
        assert status == 403
        assert json.loads(body) == {"error": "unexpected Host header"}
        assert request(board, "/", headers={"Host": f"localhost:{board.port}"})[0] == 200


def test_token_required_on_every_request(engine):
    auth = DashboardAuth.from_options(token="t0ken-abc", basic_auth=None)
    with Dashboard(engine, port=0, auth=auth) as board:
        for path in ("/", "/api/fleet", "/metrics"):
            status, headers, _ = request(board, path)
            assert status == 401, path
            assert headers["www-authenticate"] == "Bearer"
        assert request(board, "/api/fleet", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert request(board, "/?token=wrong")[0] == 401
        assert request(board, "/api/fleet", headers={"Authorization": "Bearer t0ken-abc"})[0] == 200
        assert request(board, "/?token=t0ken-abc")[0] == 200
        # with auth configured any Host is fine (the token is the guard)
        assert (
            request(
                board,
                "/api/fleet",
                headers={"Authorization": "Bearer t0ken-abc", "Host": "fleet.example:8765"},
            )[0]
            == 200
        )


def test_basic_auth(engine):
    auth = DashboardAuth.from_options(token=None, basic_auth="ops:pa:ss")
    assert (auth.user, auth.password) == ("ops", "pa:ss")
    assert "pa:ss" not in repr(auth)

    def basic(user: str, pw: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}

    with Dashboard(engine, port=0, auth=auth) as board:
        status, headers, _ = request(board, "/")
        assert status == 401
        assert headers["www-authenticate"] == 'Basic realm="rubix-sync"'
        assert request(board, "/", headers=basic("ops", "wrong"))[0] == 401
        assert request(board, "/", headers={"Authorization": "Basic !!notbase64"})[0] == 401
        assert request(board, "/", headers=basic("ops", "pa:ss"))[0] == 200


def test_bind_rules(engine):
    with pytest.raises(ConfigError, match="Refusing to serve the dashboard on 10.1.2.3"):
        Dashboard(engine, host="10.1.2.3", port=0).bind()
    with pytest.raises(ConfigError, match="Refusing to serve the dashboard on fleet.example"):
        Dashboard(engine, host="fleet.example", port=0).bind()
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    with Dashboard(engine, port=0) as first:
        busy = Dashboard(engine, port=first.port)
        with pytest.raises(ConfigError, match=f"Port {first.port} on 127.0.0.1 is in use"):
            busy.bind()


def test_database_gone_gives_503(tmp_path):
    from .conftest import new_sqlite

    path = tmp_path / "gone.db"
    e = sa.create_engine(new_sqlite(path))
    try:
        with Dashboard(e, port=0) as board:
            e.dispose()
            path.unlink()
            path.mkdir()  # now a folder: every query fails
            status, _, body = request(board, "/api/fleet")
            assert status == 503
            assert json.loads(body)["error"].startswith("central database unavailable: ")
    finally:
        e.dispose()


@pytest.mark.parametrize(("chart_refresh", "expected"), [(3600.0, 18), (0.0, 19)])
def test_chart_is_refreshed_less_often(engine, chart_refresh, expected):
    import time
    from datetime import datetime

    from .conftest import UTC, insert, token

    with Dashboard(engine, port=0, refresh_seconds=1, chart_refresh_seconds=chart_refresh) as b:
        first = json.loads(request(b, "/api/fleet")[2])
        assert sum(x["records_processed"] for x in first["hourly"]) == 18
        insert(
            engine,
            "TokenRecords",
            [token(9999, "vm-a", "203.0.113.10", datetime.now(UTC).replace(tzinfo=None))],
        )
        time.sleep(0.6)  # past the 0.5 s response cache
        again = json.loads(request(b, "/api/fleet")[2])
        assert sum(x["records_processed"] for x in again["hourly"]) == expected
        assert again["generated_at"] >= first["generated_at"]
