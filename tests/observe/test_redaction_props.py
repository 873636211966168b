"""Property tests: whatever surrounds a secret, scrub() and the log files never show it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rubix_sync.observe import LineFormatter, scrub, setup_logging

TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
bot_tokens = st.builds(
    lambda digits, tail: f"{digits}:{tail}",
    st.integers(10**5, 10**12 - 1).map(str),
    st.text(TOKEN_CHARS, min_size=30, max_size=46),
)
passwords = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!$%^&*", min_size=6, max_size=24
)
noise = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(noise, bot_tokens, noise)
def test_bot_token_never_survives(before: str, token: str, after: str) -> None:
    assume(token.split(":", 1)[1] not in before + after)
    for text in (
        f"{before}{token}{after}",
        f"{before} https://api.telegram.org/bot{token}/sendMessage {after}",
        f'{before}{{"bot_token":"{token}"}}{after}',
        f"{before}9876543210{token}{after}",  # glued to more digits
    ):
        assert token.split(":", 1)[1] not in scrub(text)


@settings(max_examples=200, deadline=None)
@given(noise, passwords, noise)
def test_url_and_odbc_passwords_never_survive(before: str, pw: str, after: str) -> None:
    assume(pw not in before + after)
    for text in (
        f"{before} postgresql+psycopg://sync:{pw}@db.internal:5432/rubix {after}",
        f"{before} mssql+pyodbc://sa:{pw}@srv/db?driver=x {after}",
        f"{before} Driver={{ODBC Driver 18}};Server=s;PWD={pw}; {after}",
    ):
        assert f":{pw}@" not in scrub(text)
        assert f"PWD={pw};" not in scrub(text)


def test_scrub_leaves_ordinary_lines_alone() -> None:
    line = '{"event":"fetch_failed","reason":"timeout","ts":1705329002.0,"token_id":"QmX"}'
    assert scrub(line) is line


def test_console_handler_uses_the_same_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = setup_logging(tmp_path / "logs", level_console=logging.WARNING)
    try:
        logging.getLogger("rubix_sync.ipfs").info("quiet")
        logging.getLogger("rubix_sync.ipfs").warning("loud %s", "https://u:examplepw123456@h/x")
    finally:
        handle.close()
    err = capsys.readouterr().err
    assert "quiet" not in err
    assert err.endswith(" - WARNING - IPFS:GENERAL [--------] - loud https://u:***@h/x\n")
    assert isinstance(LineFormatter(), logging.Formatter)
