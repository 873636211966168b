"""TelegramNotifier against the loopback Bot API stand-in: delivery, retries, limits, bounds,
and the token never leaking into logs."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from rubix_sync.notify._worker import TokenBucket
from rubix_sync.notify.telegram import TelegramNotifier

from .botapi_server import BotApiServer, check_html
from .conftest import CHAT, TOKEN


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_send_delivers_html_to_chat(botapi: BotApiServer, make_config) -> None:
    n = TelegramNotifier(make_config())
    n.send("🖥️ vm\n<b>HELLO</b>\n<pre>a &amp; b</pre>", kind="custom")
    report = n.close()
    assert report.sent == 1 and report.ok
    [msg] = botapi.messages
    assert msg.method == "sendMessage" and msg.token == TOKEN
    assert msg.params["chat_id"] == CHAT
    assert msg.params["parse_mode"] == "HTML"
    assert msg.text == "🖥️ vm\n<b>HELLO</b>\n<pre>a &amp; b</pre>"


def test_send_never_blocks_even_when_server_stalls(botapi: BotApiServer, make_config) -> None:
    botapi.set_mode("stall", delay=3)
    n = TelegramNotifier(make_config(request_timeout=0.5, flush_timeout=1.0), backoff_base=0.05)
    t0 = time.monotonic()
    for i in range(5):
        n.send(f"<b>m{i}</b>", kind="progress")
    assert time.monotonic() - t0 < 0.2  # queued, not sent inline
    t1 = time.monotonic()
    report = n.close()  # bounded by flush_timeout=1 s
    elapsed = time.monotonic() - t1
    assert elapsed < 2.0, elapsed
    assert report.sent == 0 and report.undelivered == 5
    assert sum(report.reasons.values()) >= 5
    botapi.set_mode("ok")


def test_dead_server_adds_at_most_the_flush_wait(make_config, caplog) -> None:
    cfg = make_config(api_base_url=f"http://127.0.0.1:{_dead_port()}", flush_timeout=1.0)
    n = TelegramNotifier(cfg, backoff_base=0.2)
    with caplog.at_level(logging.DEBUG):
        n.send("<b>x</b>", kind="startup")
        n.send("<b>y</b>", kind="completion")
        t0 = time.monotonic()
        report = n.close()
        elapsed = time.monotonic() - t0
    assert elapsed < 2.0, elapsed
    assert report.undelivered == 2 and report.sent == 0
    assert any("network error ConnectError" in r for r in report.reasons), report.reasons
    # what was not delivered is reported in the log, with count and reasons
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("2 notification(s) not delivered" in w and "reasons:" in w for w in warnings)
    assert TOKEN not in caplog.text


def test_429_retry_after_is_honoured(botapi: BotApiServer, make_config) -> None:
    botapi.set_mode("429", count=1, retry_after=1)
    n = TelegramNotifier(make_config(flush_timeout=5.0))
    n.send("<b>after 429</b>", kind="error")
    report = n.flush(5.0)
    n.close()
    assert report.sent == 1
    first, second = botapi.requests[0], botapi.requests[1]
    assert second.at - first.at >= 0.95  # waited retry_after (1 s) before retrying
    assert botapi.texts == ["<b>after 429</b>"]


def test_5xx_retried_with_backoff_then_delivered(botapi: BotApiServer, make_config) -> None:
    botapi.set_mode("5xx", count=2, status=502)
    n = TelegramNotifier(make_config(), backoff_base=0.1)
    n.send("<b>eventually</b>", kind="error")
    report = n.close()
    assert report.sent == 1 and report.failed == 0
    assert len(botapi.requests) == 3
    gaps = [b.at - a.at for a, b in zip(botapi.requests, botapi.requests[1:])]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19  # 0.1 s, then 0.2 s
    assert botapi.texts == ["<b>eventually</b>"]


def test_5xx_gives_up_after_max_attempts(botapi: BotApiServer, make_config) -> None:
    botapi.set_mode("5xx", status=500)
    n = TelegramNotifier(make_config(max_attempts=3), backoff_base=0.01)
    n.send("<b>never</b>", kind="error")
    report = n.close()
    botapi.set_mode("ok")
    assert len(botapi.requests) == 3
    assert report.failed == 1
    assert list(report.reasons) == ["sendMessage: HTTP 500 Server Error (gave up after 3 attempts)"]


def test_dropped_connection_retried(botapi: BotApiServer, make_config) -> None:
    botapi.set_mode("drop", count=1)
    n = TelegramNotifier(make_config(), backoff_base=0.05)
    n.send("<b>after drop</b>", kind="error")
    report = n.close()
    assert report.sent == 1
    assert len(botapi.requests) == 2
    assert botapi.texts == ["<b>after drop</b>"]


@pytest.mark.parametrize("status", ["401", "bad-token"])
def test_unauthorized_not_retried_and_logged_without_token(
    botapi: BotApiServer, make_config, caplog: pytest.LogCaptureFixture, status: str
) -> None:
    secret = "42:tiny-secret-that-redact-does-not-know"
    if status == "401":
        botapi.set_mode("401")
        cfg = make_config()
    else:
        cfg = make_config(bot_token=secret)
    n = TelegramNotifier(cfg, backoff_base=0.01)
    with caplog.at_level(logging.DEBUG):
        n.send("<b>x</b>", kind="error")
        report = n.close()
    botapi.set_mode("ok")
    assert len(botapi.requests) == 1  # not retried
    assert report.failed == 1
    assert list(report.reasons) == ["sendMessage: HTTP 401 Unauthorized"]
    assert "sendMessage: HTTP 401 Unauthorized" in caplog.text
    # httpx logs its request line (with the URL) at INFO: the token is masked there too
    assert any(
        r.name == "httpx" and "/bot***/sendMessage" in r.getMessage() for r in caplog.records
    )
    for token in (TOKEN, secret, "tiny-secret"):
        assert token not in caplog.text


def test_bad_markup_falls_back_to_plain_text(botapi: BotApiServer, make_config) -> None:
    n = TelegramNotifier(make_config())
    assert n.send_html("<b>unclosed &amp; x").ok
    [msg] = botapi.messages
    assert "parse_mode" not in msg.params
    assert msg.text == "unclosed & x"
    n.close()


def test_long_message_split_in_order(botapi: BotApiServer, make_config) -> None:
    body = "\n".join(f"line {i:04d} <&>" for i in range(400))
    from html import escape

    text = "🖥️ vm\n<b>LONG</b>\n<pre>" + escape(body, quote=False) + "</pre>"
    n = TelegramNotifier(make_config(max_message_length=1000))
    n.send(text, kind="completion")
    report = n.close()
    assert report.sent == len(botapi.messages) >= 8
    for t in botapi.texts:
        assert len(t) <= 1000 and check_html(t) is None
    got = [
        ln
        for t in botapi.texts
        for ln in t.replace("<pre>", "").replace("</pre>", "").split("\n")
        if ln.startswith("line")
    ]
    assert got == escape(body, quote=False).split("\n")


def test_rate_limit_spaces_messages(botapi: BotApiServer, make_config) -> None:
    # 600 a minute = one every 0.1 s, no burst beyond one
    n = TelegramNotifier(make_config(rate_limit_per_minute=600, rate_limit_burst=1))
    t_start = time.monotonic()
    for i in range(5):
        n.send(f"<b>{i}</b>", kind="progress")
    report = n.close()
    assert report.sent == 5
    times = [m.at for m in botapi.messages]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # sends are scheduled 0.1 s apart (arrivals jitter by the request latency): the fifth
    # cannot leave before 0.4 s, and the typical gap is the rate's
    assert times[-1] - t_start >= 0.38, times[-1] - t_start
    assert sorted(gaps)[len(gaps) // 2] >= 0.08, gaps
    assert botapi.texts == [f"<b>{i}</b>" for i in range(5)]


def test_token_bucket_with_fake_clock() -> None:
    now = [0.0]
    bucket = TokenBucket(per_minute=20, burst=3, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]  # the burst
    assert bucket.reserve() == pytest.approx(3.0)  # then one every 3 s
    assert bucket.reserve() == pytest.approx(6.0)
    now[0] = 60.0  # a quiet minute refills to the burst, not beyond
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(3.0)
    now[0] = 200.0
    bucket.pause(10)  # a 429 holds everyone back
    assert bucket.reserve() == pytest.approx(10.0)
    # 60 messages over time: never more than 20 a minute after the initial burst
    now[0], sent = 1000.0, []
    b2 = TokenBucket(per_minute=20, burst=3, clock=lambda: now[0])
    for _ in range(60):
        wait = b2.reserve()
        now[0] += wait
        sent.append(now[0])
    assert sum(1 for t in sent if t < 1060.0) <= 23


def test_queue_full_drops_and_reports(botapi: BotApiServer, make_config) -> None:
    botapi.set_mode("stall", delay=1.5)
    n = TelegramNotifier(make_config(queue_size=2, request_timeout=2.0, flush_timeout=0.2))
    for i in range(6):
        n.send(f"<b>{i}</b>", kind="error")
    report = n.close()
    botapi.set_mode("ok")
    assert report.reasons["queue full (2): error message dropped"] >= 3
    assert report.sent == 0


def test_send_message_and_test_connection(botapi: BotApiServer, make_config) -> None:
    n = TelegramNotifier(make_config())
    assert n.send_message("Test message from sync system <ok> & done") is True
    assert botapi.texts[-1] == (
        "🖥️ Production-VM-1 (203.0.113.12)\nTest message from sync system &lt;ok&gt; &amp; done"
    )
    assert n.test_connection() is True
    methods = [r.method for r in botapi.requests]
    assert methods[-2:] == ["getMe", "sendMessage"]
    assert "🔔 TEST MESSAGE" in botapi.texts[-1]
    check = n.check_connection()
    assert check.ok and check.bot_username == "rubix_sync_test_bot"


def test_test_connection_false_when_sendmessage_fails(botapi: BotApiServer, make_config) -> None:
    n = TelegramNotifier(make_config(), backoff_base=0.01)
    botapi.set_mode("5xx", status=500, method="sendMessage")
    check = n.check_connection()
    botapi.set_mode("ok")
    assert not check.ok and check.step == "sendMessage"
    assert check.bot_username == "rubix_sync_test_bot"  # getMe itself worked
    assert n.test_connection() is True  # and with the server healthy again it passes


def test_test_connection_false_on_401_and_dead_server(botapi: BotApiServer, make_config) -> None:
    botapi.set_mode("401")
    n = TelegramNotifier(make_config())
    assert n.test_connection() is False
    assert n.send_message("x") is False
    botapi.set_mode("ok")
    dead = TelegramNotifier(make_config(api_base_url=f"http://127.0.0.1:{_dead_port()}",
                                        max_attempts=1))  # fmt: skip
    check = dead.check_connection()
    assert not check.ok and check.step == "getMe" and "ConnectError" in (check.error or "")
    assert TOKEN not in repr(dead) and TOKEN not in str(check)
