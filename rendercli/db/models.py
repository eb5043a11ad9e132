"""SQLAlchemy models. Ids are cuid2 strings; timestamps are UTC and set in Python.

No server defaults: the same migration must produce the same schema on SQLite and
PostgreSQL, so every default lives here, on the Python side.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from rendercli.db.ids import id_check, new_id
from rendercli.db.statuses import ACTIVE_JOB_STATUSES, JOB_STATUSES  # noqa: F401
from rendercli.db.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# "title": a generated card (no file); "font": a TTF/OTF file that titles and texts may
# use, kept with the project but never on the timeline (no position).
ASSET_KINDS = ("video", "image", "audio", "title", "font")
TASK_KINDS = ("segment", "soundtrack", "assemble")
TASK_STATES = ("queued", "processing", "completed", "failed", "cancelled")

ID = String(32)


def id_shape(column: str = "id") -> tuple[CheckConstraint, CheckConstraint]:
    """The database refuses an id rendercli would not make (migration 0009): one CHECK
    per dialect, since SQLite has no regex and PostgreSQL no GLOB."""
    return tuple(  # type: ignore[return-value]
        CheckConstraint(id_check(column, dialect), name=f"{column}_shape").ddl_if(
            dialect=dialect)
        for dialect in ("postgresql", "sqlite"))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    # Stored lower-cased: the unique constraint is then case-insensitive on both databases.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # Login proof scheme (see services/passwords.py): the bcrypt salt and cost ("$2b$12$" +
    # 22 characters), and SHA-256 of bcrypt(password, salt). Neither can be replayed to log in.
    password_salt: Mapped[str] = mapped_column(String(29))
    password_verifier: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = id_shape()


class LoginSecret(Base):
    """One row: the key that derives stable fake salts for unknown emails, and the bcrypt
    cost those fake salts carry. On PostgreSQL only the schema owner can read it."""

    __tablename__ = "login_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hmac_key: Mapped[str] = mapped_column(String(64))  # hex
    bcrypt_cost: Mapped[int] = mapped_column(Integer)


class AuthToken(Base):
    """A login session or a long-lived API token. Only the SHA-256 of the token is kept."""

    __tablename__ = "auth_tokens"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "session" (login) or "api" (token create)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (CheckConstraint("kind IN ('session', 'api')", name="kind"), *id_shape())


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Which spec file's `render batch` made it (services/specs/batch.spec_origin); None for
    # a project made by hand or by `apply`. A batch changes only projects it made.
    spec_origin: Mapped[str | None] = mapped_column(String(64), default=None)
    # How clips and stills meet the frame unless an item says (contain, cover, blur);
    # None: contain.
    fit: Mapped[str | None] = mapped_column(String(8), default=None)

    assets: Mapped[list[Asset]] = relationship(
        back_populates="project", order_by="Asset.position", passive_deletes=True
    )

    # (id, owner_id) is unique because id is: render jobs name both (their foreign key),
    # so a job's owner_id is always its project's owner.
    __table_args__ = (UniqueConstraint("owner_id", "name"), UniqueConstraint("id", "owner_id"),
                      *id_shape())


class Asset(Base):
    """An item of a project: media on the timeline, a title card, or a font.

    Media and font files live in content-addressed storage (``storage_key``); a title has
    no file. Probed facts are `MediaInfo`'s (rendercli/media/info.py); the timeline
    settings below them are the user's.
    """

    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    position: Mapped[int | None] = mapped_column(Integer)  # 1-based; None for fonts
    kind: Mapped[str] = mapped_column(String(8))
    display_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)  # None for titles
    storage_key: Mapped[str | None] = mapped_column(String(255))  # None for titles
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    container: Mapped[str | None] = mapped_column(String(16))
    duration: Mapped[float | None] = mapped_column(Float)  # probed source duration
    width: Mapped[int | None] = mapped_column(Integer)  # as displayed (rotation applied)
    height: Mapped[int | None] = mapped_column(Integer)
    frame_rate: Mapped[float | None] = mapped_column(Float)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    video_codec: Mapped[str | None] = mapped_column(String(32))
    pix_fmt: Mapped[str | None] = mapped_column(String(32))
    has_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    audio_codec: Mapped[str | None] = mapped_column(String(32))
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(Integer)
    trim_start: Mapped[float | None] = mapped_column(Float)  # video/audio: offset into source
    trim_end: Mapped[float | None] = mapped_column(Float)  # video/audio: end time in source
    still_duration: Mapped[float | None] = mapped_column(Float)  # images, titles: seconds shown
    # Picture items: the hand-over to the next picture item ("none": a cut).
    transition: Mapped[str] = mapped_column(String(16), default="none")
    transition_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    fade_in: Mapped[float] = mapped_column(Float, default=0.0)  # seconds; picture and sound
    fade_out: Mapped[float] = mapped_column(Float, default=0.0)
    volume: Mapped[float] = mapped_column(Float, default=1.0)  # linear gain, clips and music
    # The volume as the person wrote it when that was decibels ("-3dB"): shown and
    # exported so; `volume` is what renders. NULL: a plain gain, shown as the number.
    volume_text: Mapped[str | None] = mapped_column(String(16))
    mute: Mapped[bool] = mapped_column(Boolean, default=False)
    duck: Mapped[bool] = mapped_column(Boolean, default=False)  # music: under clip sound
    motion: Mapped[str | None] = mapped_column(String(16))  # stills: zoom-in, pan-left, ...
    fit: Mapped[str | None] = mapped_column(String(8))  # clips, stills; None: the project's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    project: Mapped[Project] = relationship(back_populates="assets")
    title: Mapped[AssetTitle | None] = relationship(
        foreign_keys="AssetTitle.asset_id", cascade="all, delete-orphan", passive_deletes=True
    )
    texts: Mapped[list[AssetText]] = relationship(
        foreign_keys="AssetText.asset_id", order_by="AssetText.position",
        cascade="all, delete-orphan", passive_deletes=True,
    )

    __table_args__ = (
        Index(None, "project_id", "position"),
        CheckConstraint(
            "kind IN ('video', 'image', 'audio', 'title', 'font')", name="kind"
        ),
        # Fonts, and only fonts, are off the timeline; titles, and only titles, have no file.
        CheckConstraint("(kind = 'font') = (position IS NULL)", name="position"),
        CheckConstraint("(kind = 'title') = (storage_key IS NULL)", name="stored"),
        # Storage is content-addressed: the recorded hash is the key of the object the
        # render reads, never a second value a client could set apart (migration 0008).
        # (Spelt out for NULLs: a CHECK whose expression is NULL passes.)
        CheckConstraint("(sha256 IS NULL AND storage_key IS NULL) OR (sha256 IS NOT NULL "
                        "AND storage_key IS NOT NULL AND sha256 = storage_key)",
                        name="hash_is_key"),
        *id_shape(),
    )


class AssetTitle(Base):
    """The card of a title item (an asset of kind "title"): its text and style."""

    __tablename__ = "asset_titles"

    asset_id: Mapped[str] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text)
    background: Mapped[str] = mapped_column(String(16), default="black")
    color: Mapped[str] = mapped_column(String(16), default="white")
    size: Mapped[str] = mapped_column(String(8), default="large")
    # A font asset of the same project; None: the font shipped with rendercli.
    font_id: Mapped[str | None] = mapped_column(ForeignKey("assets.id"), index=True)
    font_face: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fade_in: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    fade_out: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    style: Mapped[str] = mapped_column(String(8), default="none", server_default="none")


class AssetText(Base):
    """Text drawn over a picture item for a time range within it. Several per item,
    drawn in ``position`` order."""

    __tablename__ = "asset_texts"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 1-based, per item
    text: Mapped[str] = mapped_column(Text)
    start: Mapped[float] = mapped_column(Float, default=0.0)  # seconds into the item
    duration: Mapped[float | None] = mapped_column(Float)  # None: to the end of the item
    placement: Mapped[str] = mapped_column(String(16), default="lower-third")
    size: Mapped[str] = mapped_column(String(8), default="medium")
    color: Mapped[str] = mapped_column(String(16), default="white")
    box: Mapped[bool] = mapped_column(Boolean, default=True)
    font_id: Mapped[str | None] = mapped_column(ForeignKey("assets.id"), index=True)
    font_face: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fade_in: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    fade_out: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    style: Mapped[str] = mapped_column(String(8), default="", server_default="")  # "": by box
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index(None, "asset_id", "position"), *id_shape())


class RenderJob(Base):
    """One render of a project. At most one queued-or-processing job per project."""

    __tablename__ = "render_jobs"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # The project's owner, kept equal to it by the (project_id, owner_id) foreign key:
    # an account's jobs are read on one index, and row security compares one column.
    owner_id: Mapped[str] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    preset: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(8))
    fps: Mapped[int] = mapped_column(Integer)
    quality: Mapped[str] = mapped_column(String(16))
    use_cache: Mapped[bool] = mapped_column(Boolean, default=True)
    loudness: Mapped[float | None] = mapped_column(Float)  # LUFS target; None: not normalised
    # What the finished output measures (ebur128 integrated loudness), with a target.
    loudness_lufs: Mapped[float | None] = mapped_column(Float)
    # The `render batch` this job belongs to (one job per data row); None: a single render.
    batch_id: Mapped[str | None] = mapped_column(String(32), index=True)
    output_url: Mapped[str | None] = mapped_column(Text)
    poster_url: Mapped[str | None] = mapped_column(Text)
    output_size: Mapped[int | None] = mapped_column(BigInteger)
    output_duration: Mapped[float | None] = mapped_column(Float)
    output_sha256: Mapped[str | None] = mapped_column(String(64))
    cache_hit: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)  # one line, for people
    log: Mapped[str | None] = mapped_column(Text)  # ffmpeg commands, stderr tail, attempts
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_name: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    project: Mapped[Project] = relationship(foreign_keys=[project_id])

    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'processing', 'completed', 'failed', 'cancelled')",
            name="status",
        ),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        # The one-active-job rule, enforced by the database on both backends.
        Index(
            "uq_render_jobs_one_active_per_project",
            "project_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'processing')"),
            postgresql_where=text("status IN ('queued', 'processing')"),
        ),
        Index(None, "status", "heartbeat_at"),
        ForeignKeyConstraint(["project_id", "owner_id"], ["projects.id", "projects.owner_id"],
                             name="fk_render_jobs_project_owner", ondelete="CASCADE"),
        # `jobs list`: an account's newest jobs, read backwards in order and stopped at
        # the limit (without it, every job of the account was read and sorted).
        Index(None, "owner_id", "created_at", "id"),
        *id_shape(),
        *id_shape("batch_id"),
    )


class RenderTask(Base):
    """One piece of a render split over the farm: a segment to encode, the soundtrack, or
    the final assemble (join, mux, poster, publish), which runs once all others are done.

    Claimed like a job: one guarded UPDATE, and (state, worker, attempt) fence the
    worker that holds it. The RQ job that wakes a worker for it has the task's id.
    """

    __tablename__ = "render_tasks"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(ForeignKey("render_jobs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # order within the job (timeline order)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(64))  # e.g. "segment 3.2", for people
    cache_key: Mapped[str | None] = mapped_column(String(64))  # segments: the cache key
    weight: Mapped[float] = mapped_column(Float, default=1.0)  # relative cost (progress)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_name: Mapped[str | None] = mapped_column(String(200))
    command: Mapped[str | None] = mapped_column(Text)  # the ffmpeg command(s) it ran
    error: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("kind IN ('segment', 'soundtrack', 'assemble')", name="kind"),
        CheckConstraint(
            "state IN ('queued', 'processing', 'completed', 'failed', 'cancelled')",
            name="state",
        ),
        Index(None, "job_id", "seq"),
        Index(None, "state", "heartbeat_at"),
        *id_shape(),
    )


class AnalyticsEvent(Base):
    """A product event. No foreign key: analytics stays decoupled from the data it describes."""

    __tablename__ = "analytics_events"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index(None, "name", "created_at"), *id_shape())
