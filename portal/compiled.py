"""Hot read queries whose SQL the ORM compiles once per process, then runs with each
request's values.

Building and compiling a queryset costs Django 0.3–0.8 ms of Python for a query with joins,
subqueries or a window, about what PostgreSQL needs to run it. Two queries run on every API
list request (the bearer token lookup and the subscription page), so they compile once:
``compile_once`` builds the ``values()`` queryset with stand-in values, compiles it, and keeps
the SQL only if every parameter is either one of the stand-ins (so the SQL text does not
depend on them) or a constant of the query; ``CompiledQuery.fetch`` then runs it with real
values, prepared the way the ORM prepares them for those fields, and applies the ORM's
converters. Anything unexpected makes ``compile_once`` return None, and the caller uses the
ORM as usual: this saves time, it never changes a result.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Field, QuerySet
from django.db.models.query import ValuesIterable


@dataclass(frozen=True)
class StandIn:
    """A value the query is compiled with, and the model field whose lookups take it: real
    values are prepared for the database by that field, as the ORM would."""

    value: Any
    field: Field


@dataclass(frozen=True)
class CompiledQuery:
    sql: str
    names: tuple[str, ...]  # the row's keys, in column order (as ``values()`` names them)
    params: tuple[tuple[str | None, Any], ...]  # (stand-in name, None) or (None, constant)
    fields: Mapping[str, Field]
    converters: tuple[tuple[int, tuple, Any], ...]

    def fetch(self, connection, values: Mapping[str, Any], extra: Sequence = ()) -> list[dict]:
        """The rows for ``values`` (one per stand-in), as ``values()`` dicts. ``extra`` is
        appended to the parameters (for a LIMIT/OFFSET ``suffix``)."""
        params = [
            self.fields[name].get_db_prep_value(values[name], connection) if name else constant
            for name, constant in self.params
        ]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [*params, *extra])
            rows = cursor.fetchall()
        if self.converters:
            rows = [self._convert(list(row), connection) for row in rows]
        return [dict(zip(self.names, row, strict=True)) for row in rows]

    def _convert(self, row: list, connection) -> list:
        for index, functions, expression in self.converters:
            for convert in functions:
                row[index] = convert(row[index], expression, connection)
        return row


_compiled: dict[tuple, CompiledQuery | None] = {}


def compile_once(
    key: Hashable,
    connection,
    build: Callable[..., QuerySet],
    stand_ins: Mapping[str, StandIn],
    suffix: str = "",
) -> CompiledQuery | None:
    """The SQL of ``build(**stand-in values)`` (a ``values()`` queryset) for ``connection``,
    compiled on the first call for ``key`` and kept; None if it cannot be reused safely.

    ``suffix`` is appended to the SQL (e.g. ``" LIMIT %s OFFSET %s"``; the ORM writes
    slices into the SQL text, so they are passed at ``fetch`` time instead)."""
    cache_key = (key, connection.alias, connection.vendor)
    if cache_key not in _compiled:
        _compiled[cache_key] = _compile(connection, build, stand_ins, suffix)
    return _compiled[cache_key]


def _compile(connection, build, stand_ins: Mapping[str, StandIn], suffix: str) -> CompiledQuery | None:
    queryset = build(**{name: s.value for name, s in stand_ins.items()})
    if queryset._iterable_class is not ValuesIterable:
        return None
    compiler = queryset.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    prepared = {name: s.field.get_db_prep_value(s.value, connection) for name, s in stand_ins.items()}
    bound = []
    for param in params:
        names = [name for name, value in prepared.items() if value == param]
        if len(names) > 1:
            return None  # two stand-ins look alike: which one is this?
        bound.append((names[0], None) if names else (None, param))
    if {name for name, _ in bound if name} != set(stand_ins):
        return None  # a stand-in went missing: the SQL depends on its value
    query = queryset.query
    # The same names, in the same order, as ``ValuesIterable`` gives a row.
    names = query.selected or (*query.extra_select, *query.values_select, *query.annotation_select)
    fields = [column[0] for column in compiler.select[: compiler.col_count]]
    converters = tuple(
        (index, tuple(functions), expression)
        for index, (functions, expression) in compiler.get_converters(fields).items()
    )
    return CompiledQuery(
        sql=sql + suffix,
        names=tuple(names),
        params=tuple(bound),
        fields={name: s.field for name, s in stand_ins.items()},
        converters=converters,
    )
