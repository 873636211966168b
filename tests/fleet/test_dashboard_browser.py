"""The dashboard in headless Chromium (Debian's package, driven by Playwright): the page shows
the seeded machines, picks up a new session without a reload, and a screenshot is saved."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rubix_sync.fleet.dashboard import Dashboard, DashboardAuth

from .conftest import IN_CI, UTC, insert, session

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def engine(live_url: str) -> Iterator[sa.Engine]:
    e = sa.create_engine(live_url)
    try:
        yield e
    finally:
        e.dispose()


def _page(browser: Any, board: Dashboard, requests: list[str]) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.on("request", lambda req: requests.append(req.url))
    page.set_default_timeout(15_000)
    return page


def test_dashboard_shows_fleet_and_updates_live(browser, engine, tmp_path: Path):
    requests: list[str] = []
    with Dashboard(engine, port=0, refresh_seconds=1) as board:
        page = _page(browser, board, requests)
        try:
            page.goto(board.url)
            page.wait_for_selector('tr[data-machine="vm-e"]')
            machines = page.eval_on_selector_all(
                "#fleet-body tr", "rows => rows.map(r => r.dataset.machine)"
            )
            assert machines == ["vm-a", "vm-b", "vm-c", "vm-d", "vm-e"]
            assert page.inner_text('tr[data-machine="vm-b"] .state') == "STALE"
            assert page.inner_text('tr[data-machine="vm-a"] .state') == "RUNNING"
            width = page.eval_on_selector('tr[data-machine="vm-a"] .fill', "e => e.style.width")
            assert width == "40%"
            assert page.inner_text('tr[data-machine="vm-a"] .progress span') == "4/10 (40%)"
            assert page.eval_on_selector_all("#chart rect.b", "r => r.length") == 25
            drawn = page.eval_on_selector_all(
                "#chart rect.b", "r => r.reduce((n, e) => n + Number(e.dataset.records), 0)"
            )
            assert drawn == 18
            errors = page.inner_text("#errors-body")
            assert "timeout: 30s" in errors
            assert "node7: database disk image is malformed" in errors

            # A new machine starts a session: the page shows it without being reloaded.
            page.evaluate("window.__sameDocument = 42")
            now = datetime.now(UTC).replace(tzinfo=None)
            insert(engine, "SyncSessions", [
                session("f-1", "vm-f", "203.0.113.15", "RUNNING",
                        start_time=now - timedelta(seconds=30), last_heartbeat=now,
                        total_databases=8, databases_done=2, total_records_processed=1234,
                        ipfs_success=1234),
            ])  # fmt: skip
            page.wait_for_selector('tr[data-machine="vm-f"]')
            assert page.evaluate("window.__sameDocument") == 42
            assert page.inner_text('tr[data-machine="vm-f"] td:nth-child(5)') == "1,234"
            assert page.inner_text("#cards").startswith("MACHINES\n6\nRUNNING\n2\nSTALE\n1")
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
            print(f"dashboard screenshot: {shot}")
        finally:
            page.context.close()
    assert requests, "the page made no request"
    assert all(u.startswith(board.url) for u in requests), requests
    assert any(u.endswith("/api/fleet") for u in requests)


def test_dashboard_with_token_in_page_url(browser, engine):
    auth = DashboardAuth.from_options(token="s3cr3t-token", basic_auth=None)
    requests: list[str] = []
    with Dashboard(engine, port=0, auth=auth, refresh_seconds=1) as board:
        page = _page(browser, board, requests)
        try:
            resp = page.goto(board.url)
            assert resp is not None and resp.status == 401
            page.goto(board.url + "?token=s3cr3t-token")
            page.wait_for_selector('tr[data-machine="vm-a"]')
            assert page.inner_text("#banner") == ""
        finally:
            page.context.close()
