"""The ``flowcc`` command line (typer). Later issues add commands here."""

from __future__ import annotations

import typer

cli = typer.Typer(help="Flow Command Centre", no_args_is_help=True, add_completion=False)


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind"),
    port: int = typer.Option(8000, help="Port to bind"),
    workers: int = typer.Option(1, help="uvicorn worker processes"),
) -> None:
    """Run the API, websocket board and (unless FLOWCC_RUN_CONSUMERS=false) the consumers."""
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        ws_ping_interval=20,
    )


@cli.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config("alembic.ini"), "head")


def main() -> None:
    cli()
