"""Bring a database's schema up to date with Alembic, on SQLite or PostgreSQL alike."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from careweave.store.database import Database


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("careweave.store") / "migrations"))
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    """Apply every migration not yet applied; safe to run again."""
    config = alembic_config()
    with database.writer.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def current_revision(database: Database) -> str | None:
    with database.reader.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
