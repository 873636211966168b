"""Reading node databases: both generations, type mapping, ownership, keyset resume, no writes."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rubix_sync.demo import GEN_2025_03, GEN_LATE_2025, create_node_db
from rubix_sync.errors import SourceBusyError, SourceError
from rubix_sync.models import Node, TokenRow
from rubix_sync.source import TABLE_ORDER, open_node_db

from .conftest import CHILD, CREATOR, FOREIGN, OWN, PARENT, cid, sample_rows


def read_all(node: Node, batch_size: int = 1000, after: str | None = None) -> list[TokenRow]:
    with open_node_db(node) as src:
        return [r for rows, _ in src.iter_batches(batch_size, after=after) for r in rows]


def test_both_generations_map_rows(make_db, generation):
    node = make_db(generation, **sample_rows())
    rows = {r.token_id: r for r in read_all(node)}
    assert len(rows) == 8
    late = generation == GEN_LATE_2025

    parent = rows[PARENT]
    assert (parent.token_type, parent.did, parent.owned, parent.token_status) == (
        "RBT",
        OWN,
        True,
        9,
    )
    assert parent.token_value == 1.0 and parent.parent_token_id is None
    assert parent.source_updated_at == ("2025-11-01 10:00:00+00:00" if late else None)

    part = rows[cid("part-a")]
    assert part.token_type == "PART"
    assert (part.parent_token_id, part.token_value, part.did, part.owned) == (
        PARENT,
        0.25,
        CHILD,
        True,
    )
    # updated_at NULL -> created_at
    assert part.source_updated_at == ("2025-10-02 10:00:00+00:00" if late else None)

    assert rows[cid("whole-with-parent")].token_type == "RBT"  # value 1 is not a part
    assert rows[cid("half-no-parent")].token_type == "RBT"  # no parent, not a part
    assert rows[cid("half-no-parent")].token_status == 17  # stored as found

    foreign = rows[cid("foreign")]
    assert (foreign.token_type, foreign.did, foreign.owned, foreign.token_status) == (
        "RBT",
        FOREIGN,
        False,
        2,
    )

    ft = rows[cid("ft0")]
    assert (ft.token_type, ft.did, ft.ft_name, ft.creator_did, ft.owned) == (
        "FT",
        OWN,
        "GOLD",
        CREATOR,
        True,
    )
    assert (ft.token_status, ft.token_value) == (4, 0.01)
    assert ft.source_updated_at == ("2025-11-03 10:00:00+00:00" if late else None)

    nft = rows[cid("nft0")]
    assert (nft.token_type, nft.did, nft.token_status, nft.token_value) == ("NFT", OWN, 7, 2.5)

    data = rows[cid("data0")]
    assert (data.token_type, data.did, data.creator_did) == ("DATA", OWN, FOREIGN)
    # token_status was removed from DataTokensTable in late 2025
    assert data.token_status == (None if late else 5)


def test_owned_dids_and_estimate(make_db, generation):
    node = make_db(generation, **sample_rows())
    with open_node_db(node) as src:
        assert src.owned_dids == frozenset({OWN, CHILD})
        assert src.estimate() == 8
        assert src.tables == TABLE_ORDER


def test_tolerates_missing_optional_tables(make_db):
    rows = sample_rows()
    node = make_db(
        GEN_LATE_2025, omit_tables=["DataTokensTable", "DIDTable", "NFTTokensTable"], **rows
    )
    got = read_all(node)
    assert {r.token_type for r in got} == {"RBT", "PART", "FT"}
    assert not any(r.owned for r in got)  # no DIDTable: nothing is known to be the node's own
    with open_node_db(node) as src:
        assert src.owned_dids == frozenset()
        assert src.tables == ("TokensTable", "FTTokenTable")


def test_older_ft_table_with_did_column_and_missing_columns(tmp_path: Path):
    db = tmp_path / "n" / "Rubix" / "rubix.db"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE tokenstable (token_id text PRIMARY KEY, did text)")
        conn.execute(
            "CREATE TABLE FTTokenTable (token_id text PRIMARY KEY, ft_name text, did text, "
            "token_status integer, token_value text)"
        )
        conn.execute("CREATE TABLE DIDTable (did text PRIMARY KEY)")
        conn.execute("INSERT INTO tokenstable VALUES ('QmA', ?)", (OWN,))
        conn.execute("INSERT INTO tokenstable VALUES ('QmB', ?)", (OWN.encode(),))  # a blob
        conn.execute("INSERT INTO FTTokenTable VALUES ('QmF', 'X', ?, '4', 'oops')", (OWN,))
        conn.execute("INSERT INTO DIDTable VALUES (?)", (OWN,))
    conn.close()
    rows = read_all(Node("n", db, tmp_path / "n" / ".ipfs"))
    assert [(r.token_type, r.token_id, r.did, r.owned) for r in rows] == [
        ("RBT", "QmA", OWN, True),
        ("RBT", "QmB", OWN, True),
        ("FT", "QmF", OWN, True),
    ]
    assert rows[0].token_value is None and rows[0].token_status is None
    assert rows[2].token_status == 4 and rows[2].token_value is None  # unparsable value -> None


def test_non_text_and_null_ids_do_not_break_paging(tmp_path: Path):
    db = tmp_path / "n" / "Rubix" / "rubix.db"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE TokensTable (token_id, did text)")  # no type: keeps blobs
        conn.executemany(
            "INSERT INTO TokensTable VALUES (?, 'd')",
            [("Qm1",), (None,), (b"\x00blob",), ("Qm2",), (7,)],
        )
    conn.close()
    rows = read_all(Node("n", db, tmp_path), batch_size=1)
    assert [r.token_id for r in rows] == ["Qm1", "Qm2"]


def _bulk_db(path: Path, counts: dict[str, int], schema: str) -> set[str]:
    ids: set[str] = set()

    def gen(prefix: str, n: int):
        for i in range(n):
            tid = f"Qm{prefix}{i:05d}"
            ids.add(tid)
            yield tid

    create_node_db(
        path,
        schema,
        tokens=[{"token_id": t, "did": OWN, "token_value": 1.0} for t in gen("t", counts["t"])],
        ft_tokens=[{"token_id": t, "owner_did": OWN} for t in gen("f", counts["f"])],
        nft_tokens=[{"token_id": t, "did": OWN} for t in gen("n", counts["n"])],
        data_tokens=[{"token_id": t, "did": OWN} for t in gen("d", counts["d"])],
        dids=[{"did": OWN}],
    )
    return ids


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=st.fixed_dictionaries({k: st.integers(0, 12) for k in "tfnd"}),
    batch_size=st.integers(1, 7),
    schema=st.sampled_from([GEN_2025_03, GEN_LATE_2025]),
)
def test_resume_from_every_checkpoint_yields_exactly_the_rest(
    tmp_path_factory: pytest.TempPathFactory, counts, batch_size, schema
):
    path = tmp_path_factory.mktemp("keyset") / "Rubix" / "rubix.db"
    ids = _bulk_db(path, counts, schema)
    node = Node("n", path, path.parent)
    with open_node_db(node) as src:
        batches = list(src.iter_batches(batch_size))
        full = [r.token_id for rows, _ in batches for r in rows]
        assert sorted(full) == sorted(ids) and len(full) == len(ids)
        assert all(0 < len(rows) <= batch_size for rows, _ in batches)
        # tables in the fixed order, ids ascending within each table
        order = [TABLE_ORDER.index(json.loads(cp)["t"]) for _, cp in batches]
        assert order == sorted(order)
        done = 0
        for rows, cp in batches:
            done += len(rows)
            rest = [r.token_id for rs, _ in src.iter_batches(batch_size, after=cp) for r in rs]
            assert rest == full[done:]


def test_checkpoint_is_keyset_not_offset(make_db):
    node = make_db(GEN_2025_03, tokens=[{"token_id": f"Qm{c}"} for c in "bdf"])
    with open_node_db(node) as src:
        (rows, cp), *_ = src.iter_batches(2)
        assert [r.token_id for r in rows] == ["Qmb", "Qmd"]
    # the node writes between runs: a row before the checkpoint and one after it
    with sqlite3.connect(node.db_path) as conn:
        conn.execute("INSERT INTO TokensTable (token_id) VALUES ('Qma'), ('Qme')")
    conn.close()
    assert [r.token_id for r in read_all(node, 2, after=cp)] == ["Qme", "Qmf"]


def test_bad_checkpoint_is_source_error(make_db):
    node = make_db(GEN_2025_03, **sample_rows())
    for bad in ("not json", '{"t": "Nope", "k": "x"}', '{"t": "TokensTable"}', "[]"):
        with pytest.raises(SourceError, match="Checkpoint .* not valid"):
            read_all(node, after=bad)


def test_checkpoint_of_absent_table_continues_with_later_tables(make_db):
    node = make_db(GEN_LATE_2025, omit_tables=["FTTokenTable"], **sample_rows())
    rows = read_all(node, after=json.dumps({"t": "FTTokenTable", "k": "Qm"}))
    assert [r.token_type for r in rows] == ["NFT", "DATA"]


def test_reading_never_writes(make_db, generation):
    node = make_db(generation, **sample_rows())
    folder = node.db_path.parent
    before_bytes = node.db_path.read_bytes()
    before_stat = os.stat(node.db_path)
    before_ls = sorted(os.listdir(folder))
    time.sleep(0.01)
    with open_node_db(node) as src:
        src.estimate()
        _ = src.owned_dids
        for _rows, _cp in src.iter_batches(2):
            assert sorted(os.listdir(folder)) == before_ls  # no -journal / -wal / -shm
        with pytest.raises(sqlite3.OperationalError):
            src._conn.execute("DELETE FROM TokensTable")  # read-only: refused
    assert node.db_path.read_bytes() == before_bytes
    after = os.stat(node.db_path)
    assert (after.st_mtime_ns, after.st_size) == (before_stat.st_mtime_ns, before_stat.st_size)
    assert sorted(os.listdir(folder)) == before_ls


def test_read_only_file_and_folder_work(make_db):
    node = make_db(GEN_2025_03, **sample_rows())
    node.db_path.chmod(0o444)
    try:
        assert len(read_all(node)) == 8
    finally:
        node.db_path.chmod(0o644)


def test_missing_file_is_source_error(tmp_path: Path):
    db = tmp_path / "node1" / "Rubix" / "rubix.db"
    with pytest.raises(SourceError, match=rf"Node database {re.escape(str(db))} does not exist"):
        open_node_db(Node("node1", db, tmp_path))
    assert not db.exists()  # read-only open never creates it


def test_not_sqlite_is_source_error(tmp_path: Path):
    db = tmp_path / "rubix.db"
    db.write_bytes(b"this is not an SQLite database\n" + os.urandom(4000))
    with pytest.raises(
        SourceError, match=rf"Node database {re.escape(str(db))} is not an SQLite database"
    ):
        open_node_db(Node("n", db, tmp_path))


def test_empty_file_is_source_error(tmp_path: Path):
    db = tmp_path / "rubix.db"
    db.write_bytes(b"")
    with pytest.raises(SourceError, match=r"has none of the Rubix token tables"):
        open_node_db(Node("n", db, tmp_path))
    assert db.read_bytes() == b""


def test_corrupt_database_is_source_error(make_db):
    rows = sample_rows()
    rows["tokens"] = [{"token_id": f"Qm{i:06d}", "did": OWN} for i in range(3000)]
    node = make_db(GEN_2025_03, **rows)
    data = bytearray(node.db_path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    # smash every page after the schema page: the table b-trees become garbage
    for off in range(page, len(data), page):
        data[off : off + page] = b"\xff" * page
    node.db_path.write_bytes(bytes(data))
    with (
        pytest.raises(
            SourceError, match=rf"Node database {re.escape(str(node.db_path))} is corrupt"
        ),
        open_node_db(node) as src,
    ):
        for _ in src.iter_batches(100):
            pass


def _hold_exclusive_lock(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_locked_database_raises_busy_after_retries(make_db):
    node = make_db(GEN_2025_03, **sample_rows())
    locker = _hold_exclusive_lock(node.db_path)
    try:
        t0 = time.monotonic()
        with pytest.raises(SourceBusyError, match=rf"{re.escape(str(node.db_path))} .*locked"):
            open_node_db(node, busy_timeout_s=0.05, retries=2, backoff_s=0.01)
        assert time.monotonic() - t0 < 3
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert len(read_all(node)) == 8


def test_lock_released_during_retries_succeeds(make_db):
    node = make_db(GEN_2025_03, **sample_rows())
    locker = _hold_exclusive_lock(node.db_path)

    def release() -> None:
        time.sleep(0.3)
        locker.execute("ROLLBACK")

    t = threading.Thread(target=release)
    t.start()
    try:
        with open_node_db(node, busy_timeout_s=0.05, retries=20, backoff_s=0.05) as src:
            assert src.estimate() == 8
    finally:
        t.join()
        locker.close()


def test_lock_in_the_middle_of_reading_then_resume(make_db):
    rows = sample_rows()
    rows["tokens"] = [{"token_id": f"Qm{i:04d}", "did": OWN} for i in range(50)]
    node = make_db(GEN_2025_03, **rows)
    src = open_node_db(node, busy_timeout_s=0.02, retries=1, backoff_s=0.01)
    try:
        it = src.iter_batches(10)
        first, cp = next(it)
        locker = _hold_exclusive_lock(node.db_path)
        try:
            with pytest.raises(SourceBusyError):
                next(it)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        rest = [r.token_id for rs, _ in src.iter_batches(10, after=cp) for r in rs]
    finally:
        src.close()
    assert [r.token_id for r in first] + rest == [f"Qm{i:04d}" for i in range(50)] + [
        cid("ft0"),
        cid("nft0"),
        cid("data0"),
    ]


def test_memory_is_bounded_by_batch_size(make_db):
    # A page query never returns more than batch_size rows, however large the table.
    rows = sample_rows()
    rows["tokens"] = [{"token_id": f"Qm{i:06d}", "did": OWN} for i in range(5000)]
    node = make_db(GEN_2025_03, **rows)
    with open_node_db(node) as src:
        sizes = [len(r) for r, _ in src.iter_batches(256)]
    assert max(sizes) == 256 and sum(sizes) == 5003


def test_batch_size_must_be_positive(make_db):
    node = make_db(GEN_2025_03, **sample_rows())
    with open_node_db(node) as src, pytest.raises(ValueError):
        next(src.iter_batches(0))


def test_path_with_uri_special_characters(tmp_path: Path):
    db = tmp_path / "we?ird #dir%20" / "Rubix" / "rubix.db"
    create_node_db(db, GEN_LATE_2025, **sample_rows())
    assert len(read_all(Node("w", db, tmp_path))) == 8


def test_hot_journal_left_by_a_crashed_writer_is_busy_not_rolled_back(make_db):
    rows = sample_rows()
    rows["tokens"] = [{"token_id": f"Qm{i:05d}", "did": OWN} for i in range(3000)]
    node = make_db(GEN_2025_03, **rows)
    crash = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA cache_size = 1')\n"
        "c.execute('BEGIN')\n"
        "c.execute('DELETE FROM TokensTable WHERE rowid % 2 = 0')\n"
        "os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", crash, str(node.db_path)], timeout=60)
    assert proc.returncode == 9
    journal = node.db_path.with_name("rubix.db-journal")
    assert journal.exists()
    db_bytes, journal_bytes = node.db_path.read_bytes(), journal.read_bytes()
    with pytest.raises(SourceBusyError, match="hot journal rubix.db-journal"):
        open_node_db(node, busy_timeout_s=0.02, retries=1, backoff_s=0.01)
    # the reader left the crashed write for the node to roll back
    assert node.db_path.read_bytes() == db_bytes and journal.read_bytes() == journal_bytes


def test_peak_memory_does_not_grow_with_database_size(tmp_path: Path):
    import tracemalloc

    def peak_for(n: int) -> int:
        db = tmp_path / f"n{n}" / "Rubix" / "rubix.db"
        create_node_db(
            db,
            GEN_LATE_2025,
            tokens=(
                {"token_id": f"Qm{i:08d}", "did": OWN, "token_value": 1.0, "updated_at": "x" * 30}
                for i in range(n)
            ),
            dids=[{"did": OWN}],
        )
        node = Node("n", db, tmp_path)
        with open_node_db(node) as src:
            tracemalloc.start()
            try:
                count = sum(len(rows) for rows, _ in src.iter_batches(500))
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
                assert count == n

    small, large = peak_for(2_000), peak_for(40_000)
    assert large < small * 1.5 + 200_000, (small, large)
    assert large < 2_000_000  # 40k TokenRows held at once would take well over 10 MB
