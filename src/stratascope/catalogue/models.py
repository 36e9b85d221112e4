"""SQLAlchemy tables. These classes never leave `catalogue/`; callers get records."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # access control (see docs/access.md): owning group, and whether anyone may read it
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"), index=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    datasets: Mapped[list[Dataset]] = relationship(back_populates="project", cascade="all, delete-orphan")


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # None = as the project (a dataset created inside a private project is private)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"), index=True)
    public: Mapped[bool | None] = mapped_column(Boolean)
    project: Mapped[Project] = relationship(back_populates="datasets")
    images: Mapped[list[Image]] = relationship(back_populates="dataset")


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("url", "series"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(512), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    series: Mapped[int] = mapped_column(Integer, default=0)
    axes: Mapped[str] = mapped_column(String(8))
    size_t: Mapped[int] = mapped_column(Integer)
    size_c: Mapped[int] = mapped_column(Integer)
    size_z: Mapped[int] = mapped_column(Integer)
    size_y: Mapped[int] = mapped_column(Integer)
    size_x: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(16))
    physical_sizes: Mapped[dict] = mapped_column(JSON, default=dict)
    acquisition_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fingerprint: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="ok")  # ok | missing | changed
    status_message: Mapped[str | None] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dataset: Mapped[Dataset | None] = relationship(back_populates="images")
    levels: Mapped[list[Level]] = relationship(
        back_populates="image", cascade="all, delete-orphan", order_by="Level.index"
    )
    channels: Mapped[list[Channel]] = relationship(
        back_populates="image", cascade="all, delete-orphan", order_by="Channel.index"
    )
    sources: Mapped[list[SourceObjectRow]] = relationship(
        back_populates="image", cascade="all, delete-orphan", order_by="SourceObjectRow.id"
    )


class Level(Base):
    __tablename__ = "levels"
    __table_args__ = (UniqueConstraint("image_id", "index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    shape: Mapped[list] = mapped_column(JSON)
    chunks: Mapped[list] = mapped_column(JSON)
    dtype: Mapped[str] = mapped_column(String(16))
    layout: Mapped[dict] = mapped_column(JSON)
    manifest: Mapped[bytes | None] = mapped_column(LargeBinary)
    image: Mapped[Image] = relationship(back_populates="levels")


class Channel(Base):
    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("image_id", "index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(255))
    color: Mapped[str | None] = mapped_column(String(16))
    window_start: Mapped[float | None] = mapped_column(Float)
    window_end: Mapped[float | None] = mapped_column(Float)
    window_min: Mapped[float | None] = mapped_column(Float)
    window_max: Mapped[float | None] = mapped_column(Float)
    emission_wave: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    inverted: Mapped[bool] = mapped_column(Boolean, default=False)
    family: Mapped[str] = mapped_column(String(16), default="linear")
    coefficient: Mapped[float] = mapped_column(Float, default=1.0)
    image: Mapped[Image] = relationship(back_populates="channels")


class SourceObjectRow(Base):
    __tablename__ = "source_objects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(255))
    last_modified: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    storage_class: Mapped[str | None] = mapped_column(String(32))
    image: Mapped[Image] = relationship(back_populates="sources")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: token-only account
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Group(Base):
    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the token: tokens are 256-bit random, so a fast hash is safe and costs no CPU per request
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- HCS: screen -> plate -> well -> well sample (one field) -> image (docs/plates.md) ----------

class Screen(Base):
    __tablename__ = "screens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # access control, as on projects
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"), index=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    plates: Mapped[list[Plate]] = relationship(back_populates="screen")


class Plate(Base):
    __tablename__ = "plates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    screen_id: Mapped[int | None] = mapped_column(ForeignKey("screens.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(512), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(2048), unique=True)  # the plate's root: identity on re-import
    format: Mapped[str] = mapped_column(String(32))
    row_names: Mapped[list] = mapped_column(JSON)
    column_names: Mapped[list] = mapped_column(JSON)
    row_naming: Mapped[str] = mapped_column(String(16), default="letter")
    column_naming: Mapped[str] = mapped_column(String(16), default="number")
    field_count: Mapped[int] = mapped_column(Integer, default=0)
    acquisitions: Mapped[list] = mapped_column(JSON, default=list)
    sources: Mapped[list] = mapped_column(JSON, default=list)  # [[url, size, etag, version], ...]
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    screen: Mapped[Screen | None] = relationship(back_populates="plates")
    wells: Mapped[list[Well]] = relationship(back_populates="plate", cascade="all, delete-orphan",
                                             order_by="[Well.row, Well.column]")


class Well(Base):
    __tablename__ = "wells"
    __table_args__ = (UniqueConstraint("plate_id", "row", "column"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plate_id: Mapped[int] = mapped_column(ForeignKey("plates.id", ondelete="CASCADE"), index=True)
    row: Mapped[int] = mapped_column(Integer)  # 0-based, as OMERO's Well.row
    column: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(255))
    plate: Mapped[Plate] = relationship(back_populates="wells")
    samples: Mapped[list[WellSample]] = relationship(back_populates="well", cascade="all, delete-orphan",
                                                     order_by="WellSample.field_index")


class WellSample(Base):
    __tablename__ = "well_samples"
    __table_args__ = (UniqueConstraint("well_id", "field_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    well_id: Mapped[int] = mapped_column(ForeignKey("wells.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    field_index: Mapped[int] = mapped_column(Integer)  # 0-based, OMERO's index(ws)
    acquisition: Mapped[int | None] = mapped_column(Integer)  # the plate's acquisition id
    well: Mapped[Well] = relationship(back_populates="samples")
