"""Kafka security (issue #16): every client speaks TLS and SASL (SCRAM or PLAIN) when told to,
against a real broker whose only listener is SASL_SSL with certificates made by the test; a
wrong password, an untrusted certificate or plaintext is refused; production refuses plaintext
unless it is allowed on purpose."""

from __future__ import annotations

import asyncio
import gc
import uuid

import pytest
from kafka import KafkaConsumer, TopicPartition

from app.config import AuthSettings, KafkaSettings, Settings
from app.errors import DependencyUnavailable
from app.kafka import KafkaGateway
from tests.support.secure_kafka import SecureBroker


def _read_back(kafka: KafkaSettings, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(**kafka.client_options(), consumer_timeout_ms=5000)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        return [record.value for record in consumer]
    finally:
        consumer.close()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
async def test_a_message_goes_round_trip_over_sasl_ssl(
    secure_kafka: SecureBroker, mechanism: str
) -> None:
    kafka = secure_kafka.settings(mechanism)
    topic = f"adt-{uuid.uuid4().hex[:8]}"
    gateway = KafkaGateway(kafka)
    try:
        assert await gateway.ping() > 0  # /readyz's probe: TLS, then SASL, then metadata
        await gateway.ensure_topics({topic: 1})
        sent = await gateway.produce(topic, b"MSH|^~\\&|PAS|RAN01|||")
    finally:
        await gateway.close()
    assert sent.offset == 0
    assert await asyncio.to_thread(_read_back, kafka, topic) == [b"MSH|^~\\&|PAS|RAN01|||"]


# kafka-python 3.0.12 leaves the socket of each connection the broker refuses (SASL failed) to
# the garbage collector, inside its IO thread; they are collected here, in this test. (The
# client's own sockets when its constructor fails are closed at once: app.kafka.connect.)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_wrong_password_is_refused(secure_kafka: SecureBroker) -> None:
    for mechanism in ("SCRAM-SHA-256", "PLAIN"):
        gateway = KafkaGateway(secure_kafka.settings(mechanism, KAFKA_SASL_PASSWORD="guessed"))
        with pytest.raises(DependencyUnavailable, match="SASL authentication failed"):
            await gateway.ping()
        with pytest.raises(DependencyUnavailable, match="could not produce"):
            await gateway.produce("anything", b"forged ADT")
        await gateway.close()
    gc.collect()


async def test_an_untrusted_certificate_and_plaintext_are_refused(
    secure_kafka: SecureBroker,
) -> None:
    # No CA file: the system's trust store, which does not know the test CA.
    untrusted = KafkaGateway(secure_kafka.settings(KAFKA_SSL_CAFILE=None))
    with pytest.raises(DependencyUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        await untrusted.ping()
    plaintext = KafkaGateway(
        KafkaSettings.model_validate(
            {"KAFKA_BOOTSTRAP_SERVERS": secure_kafka.bootstrap, "KAFKA_REQUEST_TIMEOUT_MS": 3000}
        )
    )
    with pytest.raises(DependencyUnavailable, match="no bootstrap server answered"):
        await plaintext.ping()


def _production(kafka: dict[str, object]) -> Settings:
    secrets = {"FLOWCC_JWT_SECRET": "s" * 40, "FLOWCC_PSEUDONYM_KEY": "p" * 40}
    return Settings(
        environment="production",
        auth=AuthSettings.model_validate(secrets),
        kafka=KafkaSettings.model_validate(kafka),
    )


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_production_refuses_plaintext_unless_allowed(protocol: str) -> None:
    sasl: dict[str, object] = {
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SASL_USERNAME": "u",
        "KAFKA_SASL_PASSWORD": "p",
    }
    kafka: dict[str, object] = {"KAFKA_SECURITY_PROTOCOL": protocol} | sasl
    with pytest.raises(ValueError, match=f"KAFKA_SECURITY_PROTOCOL={protocol} sends patient"):
        _production(kafka)
    assert _production(kafka | {"KAFKA_ALLOW_PLAINTEXT": True}).kafka.allow_plaintext
    assert _production({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"} | sasl).kafka.encrypted


def test_sasl_without_credentials_is_a_startup_error() -> None:
    with pytest.raises(ValueError, match="needs KAFKA_SASL_MECHANISM"):
        KafkaSettings.model_validate({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
