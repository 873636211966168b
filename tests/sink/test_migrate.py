"""Older central databases are brought up to date in place, data kept."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from rubix_sync.sink import CentralDB

from .conftest import make_record


def _old_tables(md: sa.MetaData) -> None:
    """What an earlier version created: fewer columns, no unique key, no indexes."""
    sa.Table(
        "TokenRecords",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("machine_name", sa.String(128), nullable=False),
        sa.Column("node_name", sa.String(255), nullable=False),
        sa.Column("token_type", sa.String(16), nullable=False),
        sa.Column("token_id", sa.String(128), nullable=False),
        sa.Column("did", sa.String(255)),
        sa.Column("ipfs_data", sa.Text),
        sa.Column("ipfs_fetched", sa.Boolean, nullable=False),
        sa.Column("synced_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "SyncSessions",
        md,
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("machine_name", sa.String(128), nullable=False),
        sa.Column("start_time", sa.DateTime),
        sa.Column("status", sa.String(16), nullable=False),
    )
    sa.Table(
        "ProcessedDatabases",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("machine_name", sa.String(128), nullable=False),
        sa.Column("db_path", sa.String(512), nullable=False),
        sa.Column("fingerprint", sa.String(255)),
        sa.Column("status", sa.String(16)),
    )


def test_older_tables_gain_missing_columns_and_keys(central_url: str) -> None:
    engine = sa.create_engine(central_url)
    md = sa.MetaData()
    _old_tables(md)
    md.create_all(engine)
    old = md.tables["TokenRecords"]
    with engine.begin() as conn:
        conn.execute(
            old.insert().values(
                machine_name="vm-1",
                node_name="node1",
                token_type="RBT",
                token_id=make_record(1).token_id,
                did="old-did",
                ipfs_data="old",
                ipfs_fetched=True,
                synced_at=datetime(2025, 1, 1),
            )
        )
        conn.execute(
            md.tables["ProcessedDatabases"]
            .insert()
            .values(machine_name="vm-1", db_path="/p", fingerprint="fp", status="COMPLETED")
        )
    engine.dispose()

    db = CentralDB.connect(central_url)
    try:
        insp = sa.inspect(db.engine)
        for table in (db.schema.tokens, db.schema.sessions, db.schema.processed):
            have = {c["name"] for c in insp.get_columns(table.name)}
            assert {c.name for c in table.columns} <= have, table.name
        assert "DatabaseLeases" in insp.get_table_names()
        index_names = {i["name"] for i in insp.get_indexes("TokenRecords")}
        assert {
            "uq_TokenRecords_machine_node_token",
            "ix_TokenRecords_synced_at",
            "ix_TokenRecords_machine_fetched",
        } <= index_names

        # Old data kept; the new unique key makes the next write an update, not a duplicate.
        assert db.count_records() == 1
        db.write_batch(
            [make_record(1, did="new-did"), make_record(2)],
            machine_name="vm-1",
            db_path="/p",
            checkpoint="c",
        )
        assert db.count_records() == 2
        with db.engine.connect() as conn:
            t = db.schema.tokens
            did, owned = conn.execute(
                sa.select(t.c.did, t.c.owned).where(t.c.token_id == make_record(1).token_id)
            ).one()
        assert (did, owned) == ("new-did", True)
        state = db.get_processed("vm-1", "/p")
        assert (state.fingerprint, state.status, state.checkpoint) == ("fp", "COMPLETED", "c")
        sid = db.start_session("vm-1", None, 1)  # columns added to SyncSessions work
        assert sid
    finally:
        db.close()

    again = CentralDB.connect(central_url)  # idempotent: nothing left to migrate
    try:
        from rubix_sync.sink._migrate import ensure_schema

        assert ensure_schema(again.engine, again.schema) == []
    finally:
        again.close()
