"""Database engine, sessions and migrations.

Any SQLAlchemy URL works; SQLite (the default, a file in the data folder) gets WAL
mode, so readers never wait for the worker's writes, foreign keys (off by default
in SQLite) and a busy timeout instead of instant "database is locked" errors.
Migrations run in code at start-up; no alembic.ini is needed.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_MS = 10_000


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Request threads and the worker thread share the pool.
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    if not _in_memory(connection):
        cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL loses no committed data on a process crash (only on power loss).
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _in_memory(connection: Any) -> bool:
    cursor = connection.cursor()
    try:
        rows = cursor.execute("PRAGMA database_list").fetchall()
    finally:
        cursor.close()
    return any(row[1] == "main" and not row[2] for row in rows)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects stay readable after commit: routes return them after the session closes.
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine | None = None) -> Any:
    """An Alembic Config pointing at the migrations inside the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("genlab.web") / "migrations"))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database up to `revision` (all migrations by default)."""
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
