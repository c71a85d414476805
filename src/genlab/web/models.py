"""The studio's tables: users, images (the gallery), jobs (the queue), options, prompt
styles.

Built for many users from the start: every image and job has an owner. Times are
stored as naive UTC (SQLite has no time zones) and read back as aware UTC.
Changing a table means a new Alembic revision in `migrations/versions/`; a test
checks that these models and the migrations agree.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints, so later migrations (and SQLite batch mode) can refer to them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED_STATES = ("done", "failed", "cancelled")
# What a gallery row is: an image, or a sweep's contact sheet (a grid of other rows),
# which a gallery may show apart or hide.
IMAGE_ROLES = ("image", "sheet")
LOCAL_USER = "local"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, naive UTC in the column."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The worker's "next queued job" and the queue listing.
        Index("ix_jobs_state_position", "state", "position"),
        # Recent finished jobs of a model, for the ETA.
        Index("ix_jobs_model_state_finished", "model", "state", "finished_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(512))
    request: Mapped[str] = mapped_column(Text)  # JSON: what the worker runs
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # runs started
    error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    position: Mapped[int] = mapped_column(Integer)  # queue order; lower runs first
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A running sweep's cells stored so far, JSON [[cell, store path], …], so a page
    # opened mid-run can draw them; cleared when the job stops (its rows say it then).
    cells: Mapped[str | None] = mapped_column(Text)

    images: Mapped[list[Image]] = relationship(back_populates="job", order_by="Image.id")


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        Index("ix_images_created_at", "created_at"),
        Index("ix_images_model_created_at", "model", "created_at"),
        Index("ix_images_owner_created_at", "owner_id", "created_at"),
        # A gallery without contact sheets, newest first.
        Index("ix_images_role_created_at", "role", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(255))  # relative to the data folder
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text, default="")
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(String(512))
    seed: Mapped[int | None] = mapped_column(Integer)
    parameters: Mapped[str] = mapped_column(Text, default="")  # A1111 infotext
    request: Mapped[str | None] = mapped_column(Text)  # JSON: reproduces this image
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    role: Mapped[str] = mapped_column(String(16), default="image", server_default="image")
    sweep_cell: Mapped[int | None] = mapped_column(Integer)  # its cell, for a sweep's images

    job: Mapped[Job | None] = relationship(back_populates="images")
    words: Mapped[list[ImageWord]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class ImageWord(Base):
    """The words of each image's prompt: prompt search through an index on any
    database, instead of a LIKE '%word%' scan over every prompt."""

    __tablename__ = "image_words"

    word: Mapped[str] = mapped_column(String(64), primary_key=True)
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Option(Base):
    """Server-wide settings clients change at run time (A1111's /sdapi/v1/options)."""

    __tablename__ = "options"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON


class PromptStyle(Base):
    """A style clients imported (A1111's styles.csv): text merged into prompts."""

    __tablename__ = "prompt_styles"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    prompt: Mapped[str] = mapped_column(Text, default="")
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
