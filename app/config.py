"""Settings, composed per concern and read from the environment (pydantic-settings).

Nothing here performs I/O beyond reading environment variables, and nothing is read at import:
call :func:`get_settings` from the lifespan or the CLI.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "flowcc-development-secret-do-not-use-in-production-0001"

Environment = Literal["development", "test", "production"]


class DbSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    url: str = Field(
        default="postgresql://postgres@127.0.0.1:54320/flowcc",
        validation_alias="DATABASE_URL",
    )
    pool_size: int = Field(default=10, validation_alias="DATABASE_POOL_SIZE")

    @field_validator("url")
    @classmethod
    def _use_asyncpg(cls, value: str) -> str:
        """Accept the usual ``postgresql://`` form and select the asyncpg driver."""
        for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value.removeprefix(prefix)
        raise ValueError("DATABASE_URL must be a postgresql:// URL")


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    client_id: str = Field(default="flowcc", validation_alias="KAFKA_CLIENT_ID")
    group_id: str = Field(default="flowcc-engine", validation_alias="KAFKA_GROUP_ID")
    # Static membership (KIP-345): a restarted process with the same id takes its partitions
    # back at once instead of waiting for its old session to time out. One per process.
    group_instance_id: str | None = Field(default=None, validation_alias="KAFKA_GROUP_INSTANCE_ID")
    topic_prefix: str = Field(default="", validation_alias="KAFKA_TOPIC_PREFIX")
    request_timeout_ms: int = Field(default=5000, validation_alias="KAFKA_REQUEST_TIMEOUT_MS")
    # retention.ms of the topics this service creates (app/retention/service.py says why).
    retention_days: int = Field(default=90, ge=1, validation_alias="KAFKA_RETENTION_DAYS")
    dead_letter_retention_days: int = Field(
        default=14, ge=1, validation_alias="KAFKA_DEAD_LETTER_RETENTION_DAYS"
    )

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    jwt_secret: str = Field(default=DEV_JWT_SECRET, validation_alias="FLOWCC_JWT_SECRET")
    jwt_issuer: str = Field(default="flowcc-dev", validation_alias="FLOWCC_JWT_ISSUER")
    jwt_audience: str = Field(default="flowcc", validation_alias="FLOWCC_JWT_AUDIENCE")
    jwks_url: str | None = Field(default=None, validation_alias="FLOWCC_JWKS_URL")
    token_ttl_seconds: int = Field(default=8 * 3600, validation_alias="FLOWCC_TOKEN_TTL")
    demo_users: bool = Field(default=True, validation_alias="FLOWCC_DEMO_USERS")


class RetentionSettings(BaseSettings):
    """How long what is kept (app/retention/service.py gives each default's reason)."""

    model_config = SettingsConfigDict(env_prefix="FLOWCC_RETENTION_", extra="ignore")

    identifiers_days: int = Field(default=30, ge=1)
    dead_letters_days: int = Field(default=14, ge=1)
    processed_keys_days: int = Field(default=35, ge=1)
    location_exceptions_days: int = Field(default=30, ge=1)
    webhook_deliveries_days: int = Field(default=30, ge=1)
    audit_days: int = Field(default=2190, ge=365)
    # The leader purges this often (0: never in the background; `flowcc purge` still does).
    every_hours: float = Field(default=6, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWCC_", extra="ignore")

    environment: Environment = "development"
    log_level: str = "INFO"
    log_json: bool = True
    economy_file: str = "deploy/economies/anyborough.yaml"
    run_consumers: bool = True
    frontend_dist: str = "frontend/dist"
    opel_profile: str = "deploy/escalation/opel-default.yaml"
    # Ambulance hours lost count handover time beyond this (NHS England's trust file uses 30,
    # AACE reports 15 and 60: domain.md §2.3).
    hours_lost_after_minutes: float = Field(default=30, ge=0)
    # The engine clock: "system"; or, in development and tests only, "offset" (an admin may move
    # the engine's time forward through the API to show time-driven changes) or "fixed" (time
    # stands still at clock_start until moved: reproducible comparisons).
    clock: Literal["system", "offset", "fixed"] = "system"
    clock_start: datetime | None = None
    sample_every_seconds: float = Field(default=300, gt=0)
    # Frames a board client may have waiting; beyond this its backlog becomes one resync.
    board_queue_frames: int = Field(default=256, ge=4, le=100_000)
    # A board client that takes no frame for this long is dropped (it reconnects and resyncs).
    board_send_timeout_seconds: float = Field(default=30, ge=1, le=3600)
    # Deltas for a view are merged into at most one frame per tick; a quiet view's first delta
    # goes at once (0 = a frame per commit).
    board_tick_seconds: float = Field(default=0.1, ge=0, le=5)
    # The largest body POST /api/v1/ingest/{kind} takes (an HL7 batch file, a FHIR Bundle);
    # every other route takes 1 MiB. Bigger bodies are refused (413) before they are read.
    ingest_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    db: DbSettings = Field(default_factory=DbSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> Settings:
        """Outside development, a known secret or demo users would be an open door."""
        if self.environment == "production":
            if self.auth.jwt_secret == DEV_JWT_SECRET and self.auth.jwks_url is None:
                raise ValueError("FLOWCC_JWT_SECRET must be set (or FLOWCC_JWKS_URL) in production")
            if self.auth.demo_users:
                raise ValueError("FLOWCC_DEMO_USERS must be false in production")
            if self.clock != "system":
                raise ValueError("FLOWCC_CLOCK must be 'system' in production")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
