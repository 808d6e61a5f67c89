"""A second real broker whose only client listener is SASL_SSL (issue #16).

The certificates are made here with ``openssl`` (a throw-away CA and a broker certificate for
127.0.0.1/localhost, valid for two days from the clock the test runs on); the broker offers
SASL PLAIN and SCRAM-SHA-256, with users created when its storage is formatted. It runs from the
same Maven Central jars, configuration and command as the test stack's broker
(deploy/local/stack.py), with its own listener block.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient

from app.config import KafkaSettings
from app.kafka import connect
from deploy.local.stack import KAFKA_LIBS, broker_argv, format_storage, write_broker_config
from tests.support import free_port

# The listener block of a broker that speaks SASL_SSL only; the rest of its configuration, its
# jars and its command are the stack's (deploy/local/stack.py).
SASL_SSL_LISTENERS = """\
listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=SASL_SSL://127.0.0.1:{port}
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=\
org.apache.kafka.common.security.plain.PlainLoginModule required \
username="broker" password="{broker_password}" \
user_broker="{broker_password}" user_flowcc-plain="{password}";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location={home}/broker.p12
ssl.keystore.password={store_password}
ssl.key.password={store_password}
ssl.truststore.type=PEM
ssl.truststore.location={home}/ca.pem
"""


@dataclass(frozen=True)
class SecureBroker:
    bootstrap: str
    cafile: Path
    password: str  # of both users: flowcc-plain (PLAIN) and flowcc-scram (SCRAM-SHA-256)
    home: Path

    def settings(self, mechanism: str = "SCRAM-SHA-256", **overrides: object) -> KafkaSettings:
        user = "flowcc-plain" if mechanism == "PLAIN" else "flowcc-scram"
        values: dict[str, object] = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SSL_CAFILE": str(self.cafile),
            "KAFKA_SASL_MECHANISM": mechanism,
            "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD": self.password,
        }
        return KafkaSettings.model_validate(values | overrides)

    def environment(self, mechanism: str = "SCRAM-SHA-256") -> dict[str, str]:
        """The same settings as environment variables (for a service process)."""
        settings = self.settings(mechanism)
        assert settings.sasl_password is not None
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SSL_CAFILE": str(self.cafile),
            "KAFKA_SASL_MECHANISM": mechanism,
            "KAFKA_SASL_USERNAME": str(settings.sasl_username),
            "KAFKA_SASL_PASSWORD": settings.sasl_password.get_secret_value(),
        }


def _run(*argv: str, cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed: {done.stdout}{done.stderr}")


def make_certificates(home: Path, store_password: str) -> Path:
    """A CA, and a broker certificate it signs for 127.0.0.1 and localhost; returns the CA."""
    openssl = ("openssl", "req", "-newkey", "rsa:2048", "-nodes")
    _run(*openssl, "-x509", "-days", "2", "-subj", "/CN=flowcc test CA",
         "-keyout", "ca.key", "-out", "ca.pem", cwd=home)  # fmt: skip
    _run(*openssl, "-subj", "/CN=localhost", "-keyout", "broker.key", "-out", "broker.csr",
         cwd=home)  # fmt: skip
    (home / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _run("openssl", "x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "broker.crt",
         cwd=home)  # fmt: skip
    _run("openssl", "pkcs12", "-export", "-in", "broker.crt", "-inkey", "broker.key",
         "-name", "broker", "-out", "broker.p12", "-passout", f"pass:{store_password}",
         cwd=home)  # fmt: skip
    return home / "ca.pem"


@contextmanager
def secure_broker(home: Path) -> Iterator[SecureBroker]:
    if not any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"no broker jars in {KAFKA_LIBS}: run the suite through `make test`")
    home.mkdir(parents=True, exist_ok=True)
    store_password, password = secrets.token_hex(12), secrets.token_hex(12)
    cafile = make_certificates(home, store_password)
    port, cport = free_port(), free_port()
    listeners = SASL_SSL_LISTENERS.format(
        port="{port}", cport="{cport}", home=home, store_password=store_password,
        broker_password=secrets.token_hex(12), password=password,
    )  # fmt: skip
    props = write_broker_config(home, port=port, cport=cport, data=home / "data",
                                listeners=listeners)  # fmt: skip
    formatted = format_storage(
        props, "--add-scram", f"SCRAM-SHA-256=[name=flowcc-scram,password={password}]"
    )
    if formatted.returncode != 0:
        raise RuntimeError(f"formatting the broker's storage failed: {formatted.stderr!r}")
    with (home / "stdout.log").open("ab") as out:
        broker = subprocess.Popen(broker_argv(home, props, home, heap="384m"), stdout=out,
                                  stderr=subprocess.STDOUT)  # fmt: skip
    found = SecureBroker(f"127.0.0.1:{port}", cafile, password, home)
    try:
        _wait_ready(found, broker)
        yield found
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()


def _wait_ready(broker: SecureBroker, process: subprocess.Popen[bytes]) -> None:
    """Until the broker logs that it started, then one authenticated metadata request. (Not
    polling with clients: kafka-python leaves each refused connection's socket to the garbage
    collector, which the suite reports as a leak.)"""
    log = broker.home / "server.log"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the SASL_SSL broker exited ({process.returncode}):\n{tail}")
        if log.exists() and "Kafka Server started" in log.read_text(errors="replace"):
            admin = connect(KafkaAdminClient, broker.settings(), request_timeout_ms=10000)
            try:
                if admin.describe_cluster()["brokers"]:
                    return
            finally:
                admin.close()
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"the SASL_SSL broker was not ready within 90 s:\n{tail}")
