"""Async SQLAlchemy engine and session factory, built in the lifespan (never at import)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, MetaData, Table, TableValuedAlias, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute

from app.config import DbSettings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(settings: DbSettings) -> AsyncEngine:
    """The connection pool. Every domain's models are registered first: a mapper's foreign
    key to another domain's table resolves wherever the database is used (a command that
    imports only what it needs found ``encounters.bed_id`` pointing at an unknown ``beds``)."""
    from app.models import import_all_models

    import_all_models()
    return create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_pre_ping=True,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def table(model: type[Any]) -> Table:
    """A mapped class's Core table: bulk writes go through Core (executemany, one cached
    statement) rather than the ORM's per-row bookkeeping."""
    return cast(Table, model.__table__)


def any_of(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """``column IN (SELECT unnest(:values))``: one array parameter, so the statement's text is
    the same whatever the number of values. (An ``IN`` list is rendered with one parameter per
    value: every new length was a new statement for the connection to prepare — a round trip
    —, a quarter of a consumer batch's statements.)"""
    return any_param(column, None, list(values))


def any_param(
    column: ColumnElement[Any] | QueryableAttribute[Any], name: str | None, value: Any = None
) -> ColumnElement[bool]:
    """``column IN (SELECT unnest(:name))`` with an array parameter typed as the column: for a
    statement built once, its values given when it runs (``any_of`` gives them now).

    Not ``column = ANY(:name)``: after five runs PostgreSQL may keep a prepared statement's
    generic plan, and where that plan scans a table, ``= ANY`` of a parameter is searched value
    by value for every row read (only a constant array is hashed) — locking a batch's beds went
    from 1 to 27 ms on the sixth run. A sub-select of the array is hashed, or drives an index,
    in any plan."""
    element = column.expression
    values = func.unnest(bindparam(name, value, type_=ARRAY(element.type)))
    return element.in_(select(values).scalar_subquery())


def unnested(
    table: Table, names: Sequence[str], types: Mapping[str, Any] | None = None
) -> TableValuedAlias:
    """``unnest(:a, :b, ...)``: rows as one array parameter per column, each named as its
    column and typed as it (unless ``types`` says otherwise), for ``INSERT ... SELECT`` — the
    same statement whatever the number of rows (a VALUES list is a new statement for every
    length), so it is built once. Its parameters: ``as_arrays(rows, names)``."""
    types = types or {}
    arrays = [
        bindparam(name, type_=ARRAY(types[name] if name in types else table.c[name].type))
        for name in names
    ]
    return func.unnest(*arrays).table_valued(*names).render_derived()


def as_arrays(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    """The parameters of an ``unnested`` statement: each column's values, row by row."""
    return {name: [row[name] for row in rows] for name in names}
