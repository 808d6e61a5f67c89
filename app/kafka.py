"""Kafka access for the API process: a producer and a metadata round trip for /readyz.

kafka-python is synchronous; every call runs in a worker thread. Clients are created lazily so
the service starts (and reports the broker as unavailable) while Kafka is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from app.config import KafkaSettings
from app.errors import DependencyUnavailable


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
                self._admin = KafkaAdminClient(
                    bootstrap_servers=self.settings.bootstrap_servers,
                    client_id=f"{self.settings.client_id}-admin",
                    request_timeout_ms=self.settings.request_timeout_ms,
                    bootstrap_timeout_ms=self.settings.request_timeout_ms,
                )
            return self._admin

    def _producer_client(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                self._producer = KafkaProducer(
                    bootstrap_servers=self.settings.bootstrap_servers,
                    client_id=f"{self.settings.client_id}-producer",
                    acks="all",
                    linger_ms=2,
                    max_request_size=4 * 1024 * 1024,
                    request_timeout_ms=self.settings.request_timeout_ms,
                    max_block_ms=self.settings.request_timeout_ms,
                    bootstrap_timeout_ms=self.settings.request_timeout_ms,
                )
            return self._producer

    def _describe_cluster(self) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self._admin_client().describe_cluster()
        except KafkaError:
            self._reset_admin()
            raise
        return result

    def _reset_admin(self) -> None:
        with self._lock:
            admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()

    async def ping(self) -> float:
        """A metadata round trip to the broker; returns its latency in milliseconds."""
        started = time.perf_counter()
        timeout = self.settings.request_timeout_ms / 1000
        try:
            await self._reachable(within=timeout)
            cluster = await asyncio.wait_for(asyncio.to_thread(self._describe_cluster), timeout)
        except (KafkaError, TimeoutError, OSError) as error:
            raise DependencyUnavailable(f"kafka: {type(error).__name__}: {error}") from error
        if not cluster.get("brokers"):
            raise DependencyUnavailable("kafka: the cluster reports no brokers")
        return (time.perf_counter() - started) * 1000

    async def _reachable(self, *, within: float) -> None:
        """Fail fast on a closed port, before kafka-python spends its bootstrap timeout on it."""
        errors: list[str] = []
        for server in self.settings.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), within)
            except (OSError, TimeoutError) as error:
                errors.append(f"{server}: {error or type(error).__name__}")
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise DependencyUnavailable(
            "kafka: no bootstrap server reachable (" + "; ".join(errors) + ")"
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
                NewTopic(name, count, 1)
                for name, count in partitions.items()
                if name not in existing
            ]
            if wanted:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(wanted)
            self._wait_for_leaders(admin, list(partitions))

        await asyncio.to_thread(create)

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
            time.sleep(0.1)
        raise DependencyUnavailable(f"kafka: topics without a partition leader after {within} s")

    async def close(self) -> None:
        def close_all() -> None:
            if self._producer is not None:
                self._producer.close(timeout=5)
            self._reset_admin()

        await asyncio.to_thread(close_all)
