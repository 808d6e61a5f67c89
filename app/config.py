"""Settings, composed per concern and read from the environment (pydantic-settings).

Nothing here performs I/O beyond reading environment variables, and nothing is read at import:
call :func:`get_settings` from the lifespan or the CLI.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Published in this repository: accepted in development only (secure by default, issue #16).
DEV_JWT_SECRET = "flowcc-development-secret-do-not-use-in-production-0001"
DEV_PSEUDONYM_KEY = "flowcc-development-pseudonyms-do-not-use-in-production-01"
MIN_SECRET_LENGTH = 32

# "production" unless told otherwise: what runs with no settings is the safe behaviour, and
# development conveniences (demo users, dev login, a movable clock) exist only where
# FLOWCC_ENVIRONMENT=development is set on purpose (make run, the tests). "staging" is held to
# production's rules.
Environment = Literal["development", "staging", "production"]
KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


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
    # The most records a consumer batch (one transaction) takes. Under light load a poll
    # returns what is there (a record or a few, applied at once); only a backlog fills a batch,
    # and a bigger one spreads each batch's round trips over more records (quick runs through
    # Kafka, 500 → 5,000: HL7 3,400 → 5,600 and JSON 19,400 → 30,800 events/s; profile-ingest.md
    # round 7). A refused batch is halved down to its bad records (consumers/batch.py).
    max_poll_records: int = Field(default=5000, ge=1, validation_alias="KAFKA_MAX_POLL_RECORDS")
    # A polled batch with at least this many ADT records (a backlog) is decoded in a worker
    # process while the batch before it is applied (consumers/decoding.py); 0: always in the
    # event loop. Under light load records are decoded in the loop, at once.
    decode_offload_records: int = Field(
        default=500, ge=0, validation_alias="KAFKA_DECODE_OFFLOAD_RECORDS"
    )
    # retention.ms of the topics this service creates (app/retention/service.py says why).
    retention_days: int = Field(default=90, ge=1, validation_alias="KAFKA_RETENTION_DAYS")
    dead_letter_retention_days: int = Field(
        default=14, ge=1, validation_alias="KAFKA_DEAD_LETTER_RETENTION_DAYS"
    )
    # Transport security (every client: app/kafka.py, the consumers, the simulator). Outside
    # development a protocol without TLS is refused unless KAFKA_ALLOW_PLAINTEXT says the
    # network is trusted on purpose: every ADT message names a patient, and anyone who can reach
    # a plaintext broker can inject one.
    security_protocol: KafkaProtocol = Field(
        default="PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    allow_plaintext: bool = Field(default=False, validation_alias="KAFKA_ALLOW_PLAINTEXT")
    ssl_cafile: str | None = Field(default=None, validation_alias="KAFKA_SSL_CAFILE")
    ssl_certfile: str | None = Field(default=None, validation_alias="KAFKA_SSL_CERTFILE")
    ssl_keyfile: str | None = Field(default=None, validation_alias="KAFKA_SSL_KEYFILE")
    ssl_check_hostname: bool = Field(default=True, validation_alias="KAFKA_SSL_CHECK_HOSTNAME")
    sasl_mechanism: SaslMechanism | None = Field(
        default=None, validation_alias="KAFKA_SASL_MECHANISM"
    )
    sasl_username: str | None = Field(default=None, validation_alias="KAFKA_SASL_USERNAME")
    sasl_password: SecretStr | None = Field(default=None, validation_alias="KAFKA_SASL_PASSWORD")

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def encrypted(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @model_validator(mode="after")
    def _complete(self) -> KafkaSettings:
        sasl = self.sasl_mechanism and self.sasl_username and self.sasl_password
        if self.security_protocol.startswith("SASL_") and not sasl:
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs "
                "KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        return self

    # Values of any type: kafka-python's keyword arguments (its constructors take **configs).
    def client_options(self) -> dict[str, Any]:
        """The connection settings every kafka-python client takes (producer, consumer, admin):
        ``KafkaConsumer(**settings.kafka.client_options(), ...)``."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.encrypted:
            options |= {
                "ssl_cafile": self.ssl_cafile,
                "ssl_certfile": self.ssl_certfile,
                "ssl_keyfile": self.ssl_keyfile,
                "ssl_check_hostname": self.ssl_check_hostname,
            }
        if self.security_protocol.startswith("SASL_") and self.sasl_password is not None:
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password.get_secret_value(),
            }
        return options


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    jwt_secret: str | None = Field(default=None, validation_alias="FLOWCC_JWT_SECRET")
    # Keys the pseudonymous discharge references (never the JWT secret: rotating one must not
    # change the other).
    pseudonym_key: str | None = Field(default=None, validation_alias="FLOWCC_PSEUDONYM_KEY")
    jwt_issuer: str = Field(default="flowcc-dev", validation_alias="FLOWCC_JWT_ISSUER")
    jwt_audience: str = Field(default="flowcc", validation_alias="FLOWCC_JWT_AUDIENCE")
    jwks_url: str | None = Field(default=None, validation_alias="FLOWCC_JWKS_URL")
    token_ttl_seconds: int = Field(default=8 * 3600, validation_alias="FLOWCC_TOKEN_TTL")
    # Development only; defaults to on there, and is refused anywhere else.
    demo_users: bool | None = Field(default=None, validation_alias="FLOWCC_DEMO_USERS")

    @property
    def signing_secret(self) -> str:
        """The HS256 secret (always set once Settings has validated)."""
        if not self.jwt_secret:
            raise RuntimeError("no FLOWCC_JWT_SECRET: tokens are verified with FLOWCC_JWKS_URL")
        return self.jwt_secret


HumanRole = Literal["site_manager", "social_care", "commander", "admin"]


class OidcSettings(BaseSettings):
    """Sign-in to the boards through an OpenID provider (authorization code + PKCE): NHS CIS2,
    Microsoft Entra ID, or any certified provider. Off unless FLOWCC_OIDC_ISSUER is set."""

    model_config = SettingsConfigDict(env_prefix="FLOWCC_OIDC_", extra="ignore")

    issuer: str | None = None
    client_id: str | None = None
    # None: a public client (PKCE alone); otherwise client_secret_basic at the token endpoint.
    client_secret: SecretStr | None = None
    scopes: str = "openid profile"
    # What the sign-in button says ("Sign in with …").
    display_name: str = "your organisation's account"
    # The claims carrying a person's roles, sites and local authorities (a list or one string).
    roles_claim: str = "roles"
    sites_claim: str = "sites"
    las_claim: str = "las"
    # Claim values (Entra app roles, CIS2 RBAC codes, group ids) → this service's roles, as
    # JSON, e.g. '{"FlowCC.Commander": "commander"}'. A value equal to a role's name maps to it.
    role_map: dict[str, HumanRole] = Field(default_factory=dict, max_length=500)
    # The address people reach the service at (https://flow.example.nhs.uk): the callback is
    # {public_url}/api/v1/auth/oidc/callback. Unset: taken from each request.
    public_url: str | None = None

    @property
    def enabled(self) -> bool:
        return self.issuer is not None

    def problems(self) -> list[str]:
        if not self.enabled:
            return []
        problems = [] if self.client_id else ["FLOWCC_OIDC_CLIENT_ID must be set"]
        for name, url in (("ISSUER", self.issuer), ("PUBLIC_URL", self.public_url)):
            if url and not _https_or_loopback(url):
                problems.append(f"FLOWCC_OIDC_{name} must be https (or a loopback address)")
        return problems


def _https_or_loopback(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    return url.startswith("https://") or host in ("127.0.0.1", "localhost", "[::1]")


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

    environment: Environment = "production"
    log_level: str = "INFO"
    log_json: bool = True
    economy_file: str = "deploy/economies/anyborough.yaml"
    # Each sender's location mapping and processing-id policy (app/feeds/service.py); by
    # default <economy>.feeds.yaml beside the economy file, if there is one.
    feeds_file: str | None = None
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
    # The board's socket writes per second this process aims to stay within: frames go as soon
    # as a frame to every client fits in it (few clients: at once), the tick at most
    # (~9 µs a write measured: 30,000/s ≈ a quarter of a core; 1,000 boards then get a frame
    # every 33 ms). 0: always the whole tick.
    board_writes_per_second: float = Field(default=30_000, ge=0, le=1_000_000)
    # A board session ends when its token expires; its credentials are checked again this often
    # (an API key revoked, a user's token no longer valid) and the socket closed if they fail.
    board_revalidate_seconds: float = Field(default=60, ge=0.05, le=3600)
    # Pages on other origins allowed to open the board socket (JSON list, e.g.
    # '["https://wall.example.nhs.uk"]'); by default only the boards served here.
    board_origins: list[str] = Field(default_factory=list, max_length=50)
    # The largest body POST /api/v1/ingest/{kind} takes (an HL7 batch file, a FHIR Bundle);
    # every other route takes 1 MiB. Bigger bodies are refused (413) before they are read.
    ingest_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Webhook receivers inside the network (host names or networks, JSON list): by default a
    # webhook is https to a public address only (app/webhooks/policy.py).
    webhook_allow: list[str] = Field(default_factory=list, max_length=100)
    db: DbSettings = Field(default_factory=DbSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @property
    def development(self) -> bool:
        return self.environment == "development"

    @model_validator(mode="after")
    def _secure_by_default(self) -> Settings:
        """Development gets its conveniences; anywhere else a known or short secret, demo users
        or a movable clock is an open door, and the service refuses to start, naming each."""
        auth = self.auth
        if self.oidc.enabled and self.auth.jwks_url and not self.auth.jwt_secret:
            raise ValueError("FLOWCC_OIDC_ISSUER needs FLOWCC_JWT_SECRET (the boards' sessions)")
        if self.development:
            auth.jwt_secret = auth.jwt_secret or DEV_JWT_SECRET
            auth.pseudonym_key = auth.pseudonym_key or DEV_PSEUDONYM_KEY
            auth.demo_users = True if auth.demo_users is None else auth.demo_users
            return self
        problems = self.oidc.problems()
        if auth.jwks_url is None or auth.jwt_secret is not None:
            problems += _secret_problems("FLOWCC_JWT_SECRET", auth.jwt_secret, DEV_JWT_SECRET)
        problems += _secret_problems("FLOWCC_PSEUDONYM_KEY", auth.pseudonym_key, DEV_PSEUDONYM_KEY)
        if auth.demo_users:
            problems.append("FLOWCC_DEMO_USERS is for development only")
        if self.clock != "system":
            problems.append("FLOWCC_CLOCK must be 'system' outside development")
        if not (self.kafka.encrypted or self.kafka.allow_plaintext):
            problems.append(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka.security_protocol} sends patient data in "
                "clear: use SSL or SASL_SSL, or set KAFKA_ALLOW_PLAINTEXT=true on a trusted network"
            )
        if problems:
            raise ValueError(f"unsafe settings for {self.environment}: " + "; ".join(problems))
        auth.demo_users = False
        return self


def _secret_problems(name: str, value: str | None, published: str) -> list[str]:
    if not value:
        return [f"{name} must be set (at least {MIN_SECRET_LENGTH} random characters)"]
    if value == published:
        return [f"{name} is the development value published in the repository"]
    if len(value) < MIN_SECRET_LENGTH:
        return [f"{name} must be at least {MIN_SECRET_LENGTH} characters"]
    return []


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
