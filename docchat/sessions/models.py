"""Tables of chat sessions and messages: one row per message, never a blob of the whole chat."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from docchat.db import Base, BigIntKey, JSONType, UTCDateTime


class SessionRow(Base):
    """A chat session; ``next_position`` hands out message positions and only ever grows."""

    __tablename__ = "chat_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    next_position: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_chat_sessions_owner_updated", "owner", "updated_at"),)


class MessageRow(Base):
    """One message of a session, ordered by ``position``."""

    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("chat_sessions.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(BigInteger)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # "metadata" is reserved on declarative classes, hence the attribute name.
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    references: Mapped[list[Any] | None] = mapped_column("references", JSONType)
    #: While the answer streams: its turn (the task id), for recovery to find it if the process
    #: dies.  None for every finished message.
    streaming_turn: Mapped[str | None] = mapped_column(String(36))

    # The unique index doubles as the index for reading a session's messages in order.
    __table_args__ = (
        UniqueConstraint("session_id", "position", name="uq_chat_messages_position"),
        Index(
            "ix_chat_messages_streaming",
            "streaming_turn",
            sqlite_where=text("streaming_turn IS NOT NULL"),
            postgresql_where=text("streaming_turn IS NOT NULL"),
        ),
    )
