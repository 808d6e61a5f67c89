"""Kafka access for the API process: a producer and a metadata round trip for /readyz.

kafka-python is synchronous; every call runs in a worker thread. Clients are created lazily so
the service starts (and reports the broker as unavailable) while Kafka is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.net.compat import KafkaNetClient
from kafka.net.sasl import get_sasl_mechanism
from kafka.protocol.metadata import MetadataRequest
from kafka.protocol.parser import KafkaProtocol
from kafka.protocol.sasl import SaslAuthenticateRequest, SaslHandshakeRequest

from app.config import KafkaSettings
from app.errors import DependencyUnavailable

ENSURE_TOPICS_SECONDS = 60


T = TypeVar("T")


def connect(client_type: Callable[..., T], kafka: KafkaSettings, **options: Any) -> T:
    """A kafka-python client (producer, consumer, admin) on these settings (TLS, SASL).

    kafka-python 3.0.12 leaves the sockets of a client whose constructor fails (a refused
    password, a broker down) to the garbage collector; a service retrying with a wrong setting
    would pile them up. Here they are closed at once.
    """
    made: list[KafkaNetClient] = []

    def network(**configs: Any) -> KafkaNetClient:
        made.append(KafkaNetClient(**configs))
        return made[-1]

    try:
        return client_type(**kafka.client_options(), **options, kafka_client=network)
    except BaseException:
        for leftover in made:
            with contextlib.suppress(Exception):
                leftover.close()
        raise


@dataclass(frozen=True)
class Produced:
    topic: str
    partition: int
    offset: int


class KafkaGateway:
    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()

    def _admin_client(self) -> KafkaAdminClient:
        with self._lock:
            if self._admin is None:
                self._admin = connect(
                    KafkaAdminClient,
                    self.settings,
                    client_id=f"{self.settings.client_id}-admin",
                    request_timeout_ms=self.settings.request_timeout_ms,
                    bootstrap_timeout_ms=self.settings.request_timeout_ms,
                )
            return self._admin

    def _producer_client(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                self._producer = connect(
                    KafkaProducer,
                    self.settings,
                    client_id=f"{self.settings.client_id}-producer",
                    acks="all",
                    linger_ms=2,
                    max_request_size=4 * 1024 * 1024,
                    request_timeout_ms=self.settings.request_timeout_ms,
                    max_block_ms=self.settings.request_timeout_ms,
                    bootstrap_timeout_ms=self.settings.request_timeout_ms,
                )
            return self._producer

    def _reset_admin(self) -> None:
        with self._lock:
            admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()

    async def ping(self) -> float:
        """A metadata round trip to the broker; returns its latency in milliseconds.

        Spoken directly over an asyncio connection with kafka-python's sans-IO protocol codec,
        not through a client: kafka-python's blocking calls wait without a deadline, so a probe
        through them that hangs once would pin a worker thread for ever and, repeated by a load
        balancer, exhaust the thread pool. Here the deadline is hard and nothing is left behind.
        """
        started = time.perf_counter()
        errors: list[str] = []
        for server in self.settings.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                async with asyncio.timeout(self.settings.request_timeout_ms / 1000):
                    brokers = await _metadata_round_trip(self.settings, host, int(port))
            except (KafkaError, OSError, TimeoutError, ValueError) as error:
                errors.append(f"{server}: {type(error).__name__}: {error}")
                continue
            if not brokers:
                raise DependencyUnavailable("kafka: the cluster reports no brokers")
            return (time.perf_counter() - started) * 1000
        raise DependencyUnavailable(
            "kafka: no bootstrap server answered (" + "; ".join(errors) + ")"
        )

    async def produce(self, topic: str, value: bytes, key: bytes | None = None) -> Produced:
        def send() -> Produced:
            metadata = (
                self._producer_client()
                .send(topic, value=value, key=key)
                .get(timeout=self.settings.request_timeout_ms / 1000)
            )
            return Produced(metadata.topic, metadata.partition, metadata.offset)

        try:
            return await asyncio.to_thread(send)
        except KafkaError as error:
            raise DependencyUnavailable(f"kafka: could not produce to {topic}: {error}") from error

    async def ensure_topics(self, partitions: dict[str, int]) -> None:
        def create() -> None:
            admin = self._admin_client()
            existing = set(admin.list_topics())
            wanted = [
                NewTopic(name, count, 1, topic_configs=self._topic_config(name))
                for name, count in partitions.items()
                if name not in existing
            ]
            if wanted:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(wanted)
            self._wait_for_leaders(admin, list(partitions))

        try:
            # kafka-python's admin calls have no deadline of their own (see ping).
            await asyncio.wait_for(asyncio.to_thread(create), ENSURE_TOPICS_SECONDS)
        except TimeoutError as error:
            await asyncio.to_thread(self._reset_admin)
            raise DependencyUnavailable(
                f"kafka: topics not ready within {ENSURE_TOPICS_SECONDS} s"
            ) from error

    def _topic_config(self, name: str) -> dict[str, str]:
        """Retention set explicitly, not left to the broker's default (app/retention)."""
        days = (
            self.settings.dead_letter_retention_days
            if name.endswith(".dlq")
            else self.settings.retention_days
        )
        return {"retention.ms": str(days * 24 * 3600 * 1000)}

    @staticmethod
    def _wait_for_leaders(admin: KafkaAdminClient, topics: list[str], within: float = 30) -> None:
        """A client that reads metadata before a new partition has a leader skips it until its
        next metadata refresh; return only once every partition has one."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            described = admin.describe_topics(topics)
            partitions = [p for topic in described for p in topic.get("partitions") or []]
            if (
                len(described) == len(topics)
                and partitions
                and all(
                    p.get("leader_id", -1) >= 0 and p.get("error_code") == 0 for p in partitions
                )
            ):
                return
            time.sleep(0.05)
        raise DependencyUnavailable(f"kafka: topics without a partition leader after {within} s")

    async def close(self) -> None:
        def close_all() -> None:
            if self._producer is not None:
                self._producer.close(timeout=5)
            self._reset_admin()

        await asyncio.to_thread(close_all)


Call = Callable[[Any], Awaitable[Any]]


async def _metadata_round_trip(kafka: KafkaSettings, host: str, port: int) -> int:
    """Send one MetadataRequest (no topics) and return how many brokers the answer lists; over
    TLS and after SASL authentication when the settings ask for them, exactly as the clients
    connect, so a wrong certificate or password shows here too."""
    context = ssl_context(kafka) if kafka.encrypted else None
    reader, writer = await asyncio.open_connection(
        host, port, ssl=context, server_hostname=host if context else None
    )
    protocol = KafkaProtocol(client_id=f"{kafka.client_id}-readyz")

    async def call(request: Any) -> Any:
        protocol.send_request(request)
        writer.write(protocol.send_bytes())
        await writer.drain()
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("the broker closed the connection")
            for _, response in protocol.receive_bytes(data):
                return response

    try:
        if kafka.security_protocol.startswith("SASL_"):
            await _authenticate(call, kafka, host)
        response = await call(MetadataRequest(topics=[], version=1))
        return len(response.brokers)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _authenticate(call: Call, kafka: KafkaSettings, host: str) -> None:
    """SASL (KIP-152): a handshake naming the mechanism, then its exchange, with kafka-python's
    own mechanism classes (PLAIN, SCRAM)."""
    handshake = await call(SaslHandshakeRequest(mechanism=kafka.sasl_mechanism, version=1))
    if handshake.error_code:
        raise DependencyUnavailable(
            f"kafka: the broker does not offer SASL {kafka.sasl_mechanism} "
            f"(it offers {', '.join(handshake.mechanisms)})"
        )
    mechanism = get_sasl_mechanism(kafka.sasl_mechanism)(host=host, **kafka.client_options())
    while not mechanism.is_done():
        answer = await call(SaslAuthenticateRequest(auth_bytes=mechanism.auth_bytes(), version=1))
        if answer.error_code:
            raise DependencyUnavailable(
                f"kafka: SASL authentication failed: {answer.error_message}"
            )
        mechanism.receive(answer.auth_bytes)
    if not mechanism.is_authenticated():
        raise DependencyUnavailable("kafka: SASL authentication failed")


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=kafka.ssl_cafile)
    context.check_hostname = kafka.ssl_check_hostname
    if kafka.ssl_certfile:
        context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile)
    return context
