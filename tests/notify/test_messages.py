"""The guide's five messages, exact text (Telegram-HTML), and escaping of hostile values."""

from __future__ import annotations

from datetime import datetime, timezone

from rubix_sync.notify.base import MachineIdentity, html_to_text
from rubix_sync.notify.messages import (
    completion_message,
    custom_message,
    database_completed_message,
    error_message,
    progress_bar,
    progress_message,
    startup_message,
)

from .botapi_server import check_html

VM = MachineIdentity("Production-VM-1", "203.0.113.12")
T0 = datetime(2024, 1, 15, 14, 30, 0, tzinfo=timezone.utc)


def test_startup_exact() -> None:
    text = startup_message(VM, started_at=T0, database_kind="mssql")
    assert text == (
        "🖥️ Production-VM-1 (203.0.113.12)\n"
        "<b>🚀 SYNC STARTED</b>\n"
        "<pre>Type: Distributed Token Sync - SQL Server Database\n"
        "Time: 2024-01-15 14:30:00 UTC\n"
        "Status: Initializing...</pre>"
    )


def test_startup_from_epoch_and_dry_run() -> None:
    text = startup_message(VM, started_at=T0.timestamp(), database_kind="sqlite", dry_run=True)
    assert "Type: Distributed Token Sync - SQLite Database (dry run)\n" in text
    assert "Time: 2024-01-15 14:30:00 UTC\n" in text


def test_progress_exact() -> None:
    text = progress_message(
        VM,
        percent=73.5,
        records=2_543_210,
        rate=387.2,
        ipfs_success=2_511_234,
        sql_errors=0,
        elapsed_seconds=109.3 * 60,
    )
    assert text == (
        "🖥️ Production-VM-1 (203.0.113.12)\n"
        "<b>📊 SYNC PROGRESS</b>\n"
        "<pre>██████████████░░░░░░ 73.5%\n"
        "\n"
        "Records: 2,543,210\n"
        "Rate: 387.2/sec\n"
        "IPFS Success: 2,511,234\n"
        "SQL Errors: 0\n"
        "Elapsed: 109.3 min</pre>"
    )


def test_progress_bar_cells() -> None:
    assert progress_bar(0) == "░" * 20
    assert progress_bar(4.99) == "░" * 20
    assert progress_bar(5) == "█" + "░" * 19
    assert progress_bar(73.5) == "█" * 14 + "░" * 6
    assert progress_bar(100) == "█" * 20
    assert progress_bar(250) == "█" * 20
    assert progress_bar(-3) == "░" * 20


def test_error_exact() -> None:
    text = error_message(
        VM,
        error_type="database",
        message="Connection timeout to Azure SQL",
        at=datetime(2024, 1, 15, 14, 35, 22, tzinfo=timezone.utc),
        context={
            "error_type": "TimeoutError",
            "session_id": "abc123def",
            "records_processed": 1234567,
        },
    )
    assert text == (
        "🖥️ Production-VM-1 (203.0.113.12)\n"
        "<b>❌ ERROR DETECTED</b>\n"
        "<pre>Type: database\n"
        "Time: 14:35:22\n"
        "Message: Connection timeout to Azure SQL</pre>\n"
        "Context:\n"
        "<pre>error_type: TimeoutError\n"
        "session_id: abc123def\n"
        "records_processed: 1234567</pre>"
    )


def test_error_without_context_and_coalesced_count() -> None:
    text = error_message(
        VM, error_type="timeout", message="fetch QmX", at=T0, more=17, window_seconds=60
    )
    assert text == (
        "🖥️ Production-VM-1 (203.0.113.12)\n"
        "<b>❌ ERROR DETECTED</b>\n"
        "<pre>Type: timeout\n"
        "Time: 14:30:00\n"
        "Message: fetch QmX</pre>\n"
        "… and 17 more timeout errors in the last 60 s"
    )


def test_database_completed_exact() -> None:
    text = database_completed_message(
        VM,
        name="node042_rubix",
        records=25_430,
        duration_seconds=67.2,
        ipfs_success=983,
        ipfs_failed=17,
    )
    assert text == (
        "🖥️ Production-VM-1 (203.0.113.12)\n"
        "<b>📁 DATABASE COMPLETED</b>\n"
        "<pre>Name: node042_rubix\n"
        "Records: 25,430\n"
        "Duration: 67.2s\n"
        "IPFS Rate: 98.3%</pre>"
    )


def test_completion_exact() -> None:
    text = completion_message(
        VM,
        duration_seconds=115.7 * 60,
        databases=145,
        records=3_456_789,
        ipfs_success=987,
        ipfs_failed=13,
        sql_errors=3_460,
        errors=56_789,
    )
    assert text == (
        "🖥️ Production-VM-1 (203.0.113.12)\n"
        "<b>✅ SYNC COMPLETED</b>\n"
        "<pre>Duration: 115.7 minutes\n"
        "Databases: 145\n"
        "Records: 3,456,789\n"
        "Avg Rate: 498.0/sec\n"
        "\n"
        "Success Rates:\n"
        "├─ IPFS: 98.7%\n"
        "└─ SQL: 99.9%\n"
        "\n"
        "Errors: 56,789</pre>"
    )


def test_completion_failed_with_failures_and_no_data() -> None:
    failures = [f"node{i:03d}: database locked" for i in range(12)]
    text = completion_message(
        VM,
        duration_seconds=0,
        databases=0,
        records=0,
        ipfs_success=0,
        ipfs_failed=0,
        sql_errors=0,
        errors=12,
        status="FAILED",
        failures=failures,
    )
    assert text.splitlines()[1] == "<b>❌ SYNC FAILED</b>"
    assert "Avg Rate: 0.0/sec\n" in text
    assert "├─ IPFS: n/a\n└─ SQL: n/a\n" in text
    assert text.endswith("Failures:\n<pre>" + "\n".join(failures[:10]) + "\n… and 2 more</pre>")


def test_identity_without_ip_is_just_the_name() -> None:
    text = custom_message(MachineIdentity("vm-7", None), "hello")
    assert text == "🖥️ vm-7\nhello"
    assert "()" not in text
    assert MachineIdentity("vm-7", "").label == "vm-7"


def test_identity_resolution_order() -> None:
    given = MachineIdentity("from-sync", None)
    resolved = MachineIdentity.resolve(given, ("from-config", "198.51.100.1"))
    assert resolved == MachineIdentity("from-sync", "198.51.100.1")
    assert MachineIdentity.resolve(None, ("cfg", None)) == MachineIdentity("cfg", None)
    assert MachineIdentity.resolve(None, (None, None)).name  # falls back to the host name


def test_hostile_values_escaped_everywhere() -> None:
    evil = MachineIdentity("<script>alert(1)</script>", "1.2.3.4 & <b>")
    texts = [
        startup_message(evil, started_at=T0, database_kind="<i>x</i>"),
        error_message(
            evil,
            error_type="a<b",
            message="</pre><script>&amp;",
            at=T0,
            context={"<k>": "v & </pre>"},
        ),
        database_completed_message(
            evil, name="<node>&", records=1, duration_seconds=1, ipfs_success=1, ipfs_failed=0
        ),
        completion_message(
            evil,
            duration_seconds=1,
            databases=1,
            records=1,
            ipfs_success=1,
            ipfs_failed=0,
            sql_errors=0,
            errors=0,
            failures=["</pre><b>"],
        ),
        custom_message(evil, "<b>bold?</b> & done"),
    ]
    for text in texts:
        assert "<script>" not in text
        assert check_html(text) is None, text  # Telegram would parse it
        assert "&lt;script&gt;" in text
        assert "1.2.3.4 &amp; &lt;b&gt;" in text
    assert "Message: &lt;/pre&gt;&lt;script&gt;&amp;amp;" in texts[1]
    assert "&lt;k&gt;: v &amp; &lt;/pre&gt;" in texts[1]
    assert (
        html_to_text(texts[4]) == "🖥️ <script>alert(1)</script> (1.2.3.4 & <b>)\n<b>bold?</b> & done"
    )
