"""API keys for integrations: only a hash of each key is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(40))
    sites: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    local_authorities: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # looked up; not secret
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the whole key
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
