"""Splitting long messages at line boundaries with balanced tags; coalescing error bursts."""

from __future__ import annotations

import html
import re
from html import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rubix_sync.notify.base import MachineIdentity
from rubix_sync.notify.coalesce import Burst, ErrorCoalescer
from rubix_sync.notify.messages import completion_message
from rubix_sync.notify.split import split_message

from .botapi_server import check_html


def _unwrap(chunks: list[str]) -> str:
    """Join chunks back, dropping the tags the splitter added at the cuts."""
    out = chunks[0]
    for c in chunks[1:]:
        assert out.endswith("</pre>") and c.startswith("<pre>")
        out = out[: -len("</pre>")] + "\n" + c[len("<pre>") :]
    return out


def test_short_message_untouched() -> None:
    assert split_message("<b>x</b>\n<pre>a\nb</pre>", 100) == ["<b>x</b>\n<pre>a\nb</pre>"]


def test_split_at_lines_inside_pre_keeps_tags_balanced() -> None:
    lines = [f"line {i:03d} &amp; more text" for i in range(60)]
    text = "🖥️ vm\n<b>HEAD</b>\n<pre>" + "\n".join(lines) + "</pre>\ntail"
    chunks = split_message(text, 200)
    assert len(chunks) > 5
    for c in chunks:
        assert len(c) <= 200
        assert check_html(c) is None, c
    # nothing lost, nothing reordered, every line intact (cuts only at line boundaries)
    rejoined = "\n".join(chunks)
    for line in lines:
        assert line in rejoined
    assert [
        ln
        for c in chunks
        for ln in c.replace("<pre>", "").replace("</pre>", "").split("\n")
        if ln.startswith("line")
    ] == lines
    assert chunks[0].startswith("🖥️ vm\n<b>HEAD</b>\n<pre>line 000")
    assert chunks[-1].endswith("</pre>\ntail")


def test_single_overlong_line_cut_without_breaking_entities() -> None:
    text = "<pre>" + "a&amp;" * 100 + "</pre>"  # one 600+ character line
    chunks = split_message(text, 120)
    for c in chunks:
        assert len(c) <= 120
        assert check_html(c) is None, c
    joined = "".join(c.removeprefix("<pre>").removesuffix("</pre>") for c in chunks)
    assert joined == "a&amp;" * 100


def test_long_completion_message_splits_and_every_chunk_parses() -> None:
    failures = [f"node{i}: " + "x" * 300 for i in range(10)]
    text = completion_message(
        MachineIdentity("vm", "1.2.3.4"),
        duration_seconds=60, databases=1, records=1, ipfs_success=1, ipfs_failed=0,
        sql_errors=0, errors=10, failures=failures,
    )  # fmt: skip
    chunks = split_message(text, 1000)
    assert len(chunks) >= 3
    assert all(len(c) <= 1000 and check_html(c) is None for c in chunks)


def test_limit_too_small_rejected() -> None:
    with pytest.raises(ValueError):
        split_message("x" * 100, 10)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_coalescer_burst_becomes_one_message_with_count() -> None:
    clock = FakeClock()
    co: ErrorCoalescer[str] = ErrorCoalescer(60.0, clock)
    assert co.offer("timeout", "e0") == [Burst("timeout", "e0", 0, 60.0)]  # first: at once
    for i in range(1, 19):
        clock.now += 1
        assert co.offer("timeout", f"e{i}") == []  # held back
    assert co.offer("ipfs", "other") == [Burst("ipfs", "other", 0, 60.0)]  # other type unaffected
    assert co.due() == []  # window still open
    clock.now = 1060.0
    # 18 held back: the first of them, "and 17 more"
    assert co.due() == [Burst("timeout", "e1", 17, 60.0)]
    assert co.held == 0


def test_coalescer_steady_stream_one_message_per_window() -> None:
    clock = FakeClock()
    co: ErrorCoalescer[int] = ErrorCoalescer(60.0, clock)
    sent = []
    for i in range(300):  # one error a second for 5 minutes
        sent += co.offer("t", i)
        sent += co.due()
        clock.now += 1
    assert 5 <= len(sent) <= 6
    assert sum(b.more + 1 for b in sent) + co.held == 300


def test_coalescer_quiet_window_lets_next_error_through() -> None:
    clock = FakeClock()
    co: ErrorCoalescer[str] = ErrorCoalescer(60.0, clock)
    assert len(co.offer("t", "a")) == 1
    clock.now += 61
    assert co.due() == []
    assert co.offer("t", "b") == [Burst("t", "b", 0, 60.0)]


def test_coalescer_force_flushes_everything_and_zero_window_disables() -> None:
    clock = FakeClock()
    co: ErrorCoalescer[str] = ErrorCoalescer(60.0, clock)
    co.offer("t", "a")
    co.offer("t", "b")
    assert co.due(force=True) == [Burst("t", "b", 0, 60.0)]
    off: ErrorCoalescer[str] = ErrorCoalescer(0, clock)
    assert len(off.offer("t", "a")) == 1 and len(off.offer("t", "b")) == 1


# -- property: any message our builders can produce splits into valid, lossless chunks -----

_text = st.text(alphabet=st.sampled_from("ab c<&>é█\n"), max_size=300)
_block = st.tuples(st.sampled_from(["pre", "b", "plain"]), _text)


def _plain(s: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", s)).replace("\n", "")


@settings(max_examples=300, deadline=None)
@given(blocks=st.lists(_block, min_size=1, max_size=8), limit=st.integers(60, 400))
def test_split_property(blocks: list[tuple[str, str]], limit: int) -> None:
    parts = []
    for kind, text in blocks:
        t = escape(text, quote=False)
        parts.append(t if kind == "plain" else f"<{kind}>{t}</{kind}>")
    message = "\n".join(parts)
    chunks = split_message(message, limit)
    for c in chunks:
        assert len(c) <= limit
        assert check_html(c) is None, c
        assert _plain(c).strip() or len(chunks) == 1
    assert "".join(_plain(c) for c in chunks).replace(" ", "") == _plain(message).replace(" ", "")
