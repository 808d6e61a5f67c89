"""The ``flowcc`` command line (typer). Later issues add commands here."""

from __future__ import annotations

from pathlib import Path

import typer

cli = typer.Typer(help="Flow Command Centre", no_args_is_help=True, add_completion=False)


WS_MAX_BYTES = 65_536


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind"),
    port: int = typer.Option(8000, help="Port to bind"),
    workers: int = typer.Option(1, help="uvicorn worker processes"),
) -> None:
    """Run the API, websocket board and (unless FLOWCC_RUN_CONSUMERS=false) the consumers."""
    import uvicorn

    from app.board.wire import PROTOCOL

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        ws_ping_interval=20,
        # uvicorn's websockets-sansio protocol that also writes board frames pre-framed.
        ws=PROTOCOL,
        # Board frames are encoded once and written to every client as they are; deflate would
        # compress each frame again per connection (ADR 0006).
        ws_per_message_deflate=False,
        # Clients send small control messages only (app/board/routes.py): a bigger frame is
        # refused by the protocol before it is buffered (uvicorn's default is 16 MiB).
        ws_max_size=WS_MAX_BYTES,
    )


@cli.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config("alembic.ini"), "head")


@cli.command()
def simulate(
    speed: float = typer.Option(1.0, help="1 = real time, N = N x faster, 0 = as fast as possible"),
    seed: int = typer.Option(42, help="Random seed: the same seed gives the same message stream"),
    hours: float = typer.Option(0.0, help="Simulated hours to run (0 = until stopped)"),
    warm: bool = typer.Option(True, help="Start with hospitals ~93% full"),
    adt_only: bool = typer.Option(
        False,
        help="Only the hospitals' HL7 v2 ADT (no FHIR trust, ambulance, discharge or care homes)",
    ),
    truth: Path | None = typer.Option(
        None, help="Write the ground truth every simulated hour here (JSON Lines)"
    ),
    messy: bool = typer.Option(
        True, help="Westvale (HL7) and Northfield (FHIR) send like real, messy PAS feeds"
    ),
    since_midnight: bool = typer.Option(
        False,
        help="Start the day at local midnight and send it up to now as fast as it goes, then "
        "carry on at --speed: the boards' since-midnight figures are a whole day's (make run)",
    ),
) -> None:
    """Send the Anyborough economy's feeds into Kafka. SIGTERM or Ctrl-C stops it cleanly: what
    it holds back (late deliveries) is sent and flushed first."""
    import json
    import signal
    from contextlib import ExitStack
    from datetime import UTC, datetime

    from app.clock import local_midnight
    from app.config import get_settings
    from app.logging import configure_logging
    from app.simulation.messy import MESSY_BY_DEFAULT
    from app.simulation.runner import simulate as run_simulation

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # the simulation's own clean stop (runner.simulate)

    # Also when started in the background, where SIGINT arrives ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    with ExitStack() as stack:
        out = stack.enter_context(truth.open("a")) if truth else None

        def record(hour: dict[str, object]) -> None:
            assert out is not None
            out.write(json.dumps(hour, sort_keys=True) + "\n")
            out.flush()

        run_simulation(
            settings,
            speed=speed,
            seed=seed,
            hours=hours or None,
            warm=warm,
            json_feeds=not adt_only,
            fhir_feeds=not adt_only,
            truth=record if out else None,
            messy=MESSY_BY_DEFAULT if messy else frozenset(),
            start=local_midnight(datetime.now(UTC)) if since_midnight else None,
            catch_up=since_midnight,
        )


@cli.command()
def consume() -> None:
    """Run the consumers alone (no API): scale out by running more, in one consumer group; the
    board processes (FLOWCC_RUN_CONSUMERS=false) receive what they commit over NOTIFY. A runner
    that fails is replaced, as in the board process (consumers/supervisor.py)."""
    import asyncio

    from app.board.fanout import Fanout
    from app.changes import Delta
    from app.config import get_settings
    from app.db import create_engine, create_sessionmaker
    from app.feeds.service import feeds_path, load_feeds_file
    from app.heap import settle as settle_heap
    from app.ingest.status import ConsumerStatus
    from app.kafka import KafkaGateway
    from app.logging import configure_logging
    from app.pipeline import consumer_supervisor
    from app.topics import all_topics

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)

    async def ignore(_: list[Delta]) -> None:
        return None  # this process serves no board

    supervise = consumer_supervisor()

    async def run() -> None:
        gateway = KafkaGateway(settings.kafka)
        engine = create_engine(settings.db)
        sessionmaker = create_sessionmaker(engine)
        feeds = feeds_path(settings)
        if feeds is not None and feeds.exists():  # a consumer-only deployment maps too
            await load_feeds_file(sessionmaker, feeds)
        # Committed deltas go to the board processes (and their engines) over NOTIFY.
        fanout = Fanout(settings.db.url, ignore, lambda _: None, listen=False)
        await fanout.start()
        settle_heap()  # start-up's objects out of the collector's scans (ADR 0010)
        try:
            await supervise(
                kafka=settings.kafka,
                sessionmaker=sessionmaker,
                publish=fanout.send,
                status=ConsumerStatus(),
                prepare=lambda: gateway.ensure_topics(all_topics(settings.kafka)),
            )
        finally:
            await gateway.close()
            await fanout.close()
            await engine.dispose()

    asyncio.run(run())


@cli.command("resubmit-dead-letter")
def resubmit_dead_letter(
    letter_id: int = typer.Argument(..., help="Dead letter id (GET /api/v1/dead-letters)"),
    fixed_file: str = typer.Option(
        "", "--fixed", help="File with the corrected message; default: the original bytes"
    ),
) -> None:
    """Produce a dead letter (or its corrected version) to its original topic again."""
    import asyncio
    from pathlib import Path

    from app.config import get_settings
    from app.db import create_engine, create_sessionmaker
    from app.ingest.models import DeadLetter
    from app.ingest.repository import IngestRepository
    from app.kafka import KafkaGateway

    settings = get_settings()
    fixed = Path(fixed_file).read_bytes() if fixed_file else None

    async def run() -> str:
        engine = create_engine(settings.db)
        kafka = KafkaGateway(settings.kafka)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                letter = await session.get(DeadLetter, letter_id)
                if letter is None:
                    raise typer.BadParameter(f"no dead letter {letter_id}")
                raw = fixed if fixed is not None else letter.raw
                produced = await kafka.produce(letter.topic, raw, key=letter.key)
                await IngestRepository(session).mark_resubmitted([letter_id])
            return f"{produced.topic}/{produced.partition}@{produced.offset}"
        finally:
            await kafka.close()
            await engine.dispose()

    typer.echo(f"re-submitted dead letter {letter_id} as {asyncio.run(run())}")


@cli.command("demo-reset")
def demo_reset() -> None:
    """Empty the live state and skip past old messages: a fresh simulated day."""
    import asyncio

    from app.config import get_settings
    from app.simulation.reset import reset_demo

    offsets = asyncio.run(reset_demo(get_settings()))
    typer.echo(f"demo state reset; {len(offsets)} partitions moved to their end")


@cli.command()
def demo_history(
    weeks: int = typer.Option(8, min=1, max=52, help="Weeks of history before today"),
    seed: int = typer.Option(1, help="Random seed of the simulated past"),
) -> None:
    """Write the demo economy's simulated past (hourly samples, closed ED attendances) for the
    trends, SPC baselines and bed forecast (make run; development only)."""
    import asyncio

    from app.config import get_settings
    from app.simulation.history import write_history

    settings = get_settings()
    if settings.environment != "development":
        typer.echo("demo-history writes simulated data: development only", err=True)
        raise typer.Exit(2)
    samples, spells = asyncio.run(write_history(settings, weeks=weeks, seed=seed))
    typer.echo(f"demo history: {samples} samples, {spells} past ED attendances ({weeks} weeks)")


@cli.command()
def replay(
    files: list[Path] = typer.Argument(..., help="HL7 v2, FHIR or JSON files", exists=True),
) -> None:
    """Push recorded HL7 v2, FHIR or JSON event files into the right topics."""
    from app.config import get_settings
    from app.simulation.replay import NotAFeed
    from app.simulation.replay import replay as replay_files

    try:
        sent = replay_files(get_settings(), files)
    except NotAFeed as error:
        typer.echo(f"nothing sent: {error}", err=True)
        raise typer.Exit(2) from None
    for topic, count in sorted(sent.items()):
        typer.echo(f"{topic}: {count} messages")


@cli.command()
def purge() -> None:
    """Apply the retention policy now (docs/retention.md): identifiers stripped from spells ended
    long enough ago, old dead letters and bookkeeping deleted. The leader also does this on its
    own every FLOWCC_RETENTION_EVERY_HOURS."""
    import asyncio
    from datetime import UTC, datetime

    from app.config import get_settings
    from app.db import create_engine, create_sessionmaker
    from app.retention.service import purge_now

    settings = get_settings()

    async def run() -> str:
        engine = create_engine(settings.db)
        try:
            now = datetime.now(UTC)
            purged = await purge_now(create_sessionmaker(engine), settings.retention, now)
        finally:
            await engine.dispose()
        if purged.skipped:
            return "nothing: another process is purging"
        counts = purged.__dict__.items()
        return ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in counts if name != "skipped")

    typer.echo(f"purged: {asyncio.run(run())}")


@cli.command("feed-report")
def feed_report(
    days: float = typer.Option(7.0, help="The period: the last N days"),
) -> None:
    """The feed conformance report (also GET /api/v1/feeds) as JSON: per sender, messages by
    trigger, version and processing id, dropped and duplicate messages, imputed and imprecise
    times, out-of-order arrivals, unmapped location codes; dead letters per topic and reason."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from app.config import get_settings
    from app.db import create_engine, create_sessionmaker
    from app.feeds.service import feed_report as report

    settings = get_settings()

    async def run() -> str:
        engine = create_engine(settings.db)
        try:
            async with create_sessionmaker(engine)() as session:
                since = datetime.now(UTC) - timedelta(days=days)
                return (await report(session, since)).model_dump_json(indent=2)
        finally:
            await engine.dispose()

    typer.echo(asyncio.run(run()))


locations = typer.Typer(help="Location mapping of the senders' codes", no_args_is_help=True)
cli.add_typer(locations, name="locations")


@locations.command("suggest")
def locations_suggest(
    out: Path | None = typer.Option(None, help="Write the proposal here (default: print it)"),
) -> None:
    """Propose a feeds file (location mapping) from the codes senders used that the bed master
    does not know (GET /api/v1/location-exceptions/summary): check it, then save it as the
    economy's feeds file — it applies without a restart and places every spell held."""
    import asyncio

    from sqlalchemy import select

    from app.config import get_settings
    from app.db import create_engine, create_sessionmaker
    from app.occupancy.repository import OccupancyRepository
    from app.occupancy.suggest import OurUnit, suggest
    from app.topology.models import Unit

    settings = get_settings()

    async def run() -> str:
        engine = create_engine(settings.db)
        try:
            async with create_sessionmaker(engine)() as session:
                codes = await OccupancyRepository(session).exception_summary(None)
                rows = await session.execute(
                    select(Unit.site_code, Unit.code, Unit.name, Unit.kind)
                )
                units = [OurUnit(*row) for row in rows.all()]
        finally:
            await engine.dispose()
        return suggest(codes, units)

    proposal = asyncio.run(run())
    if out is None:
        typer.echo(proposal, nl=False)
    else:
        out.write_text(proposal)
        typer.echo(f"wrote {out}")


@cli.command()
def rebuild() -> None:
    """Re-derive all state from the event log: empty it and re-consume from offset 0 (stop the
    service first; it rebuilds when started)."""
    import asyncio

    from app.config import get_settings
    from app.simulation.reset import rebuild as rebuild_state

    offsets = asyncio.run(rebuild_state(get_settings()))
    typer.echo(f"state emptied; {len(offsets)} partitions will be re-consumed from offset 0")


@cli.command()
def openapi(
    out: Path = typer.Option(Path("docs/openapi.json"), help="Where to write the schema"),
) -> None:
    """Write the OpenAPI schema (the frontend's API types are generated from it). The schema
    does not depend on the settings: it is built with development's, which need no secrets."""
    from app.config import Settings
    from app.main import create_app

    out.write_text(openapi_json(create_app(Settings(environment="development"))))
    typer.echo(f"wrote {out}")
    protocol = out.with_name("board-protocol.schema.json")
    protocol.write_text(board_schema_json())
    typer.echo(f"wrote {protocol}")


def openapi_json(app: object) -> str:
    import json

    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def board_schema_json() -> str:
    import json

    from app.board.protocol import json_schema

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
