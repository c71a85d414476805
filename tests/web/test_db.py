"""Migrations build exactly the tables the models describe; SQLite is set up safely."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from genlab.web.db import alembic_config, make_engine, session_factory, upgrade
from genlab.web.models import Base, User
from genlab.web.settings import Settings
from genlab.web.studio import Studio


def test_fresh_database_upgrades_to_head_and_matches_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(engine)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert context.get_current_revision() == head
        assert compare_metadata(context, Base.metadata) == []
    tables = set(inspect(engine).get_table_names())
    assert {"users", "jobs", "images", "image_words", "options"} <= tables
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("images")}
    assert {"ix_images_created_at", "ix_images_model_created_at"} <= indexes


def test_upgrade_twice_is_harmless(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'again.db'}")
    upgrade(engine)
    upgrade(engine)
    assert "jobs" in inspect(engine).get_table_names()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_start_creates_one_local_user_however_often_it_runs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    for _ in range(2):
        studio = Studio(settings)
        studio.start(worker=False)
        studio.stop()
    with session_factory(make_engine(settings.database_url))() as session:
        assert [u.name for u in session.scalars(select(User))] == ["local"]


def test_another_database_url_is_used_instead_of_the_default_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    studio = Studio(Settings(data_dir=tmp_path / "data", db_url=url))
    studio.start(worker=False)
    studio.stop()
    assert (tmp_path / "elsewhere.db").is_file()
    assert not (tmp_path / "data" / "genlab.db").exists()
