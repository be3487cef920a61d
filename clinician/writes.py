"""New rows that belong together, written in one statement on PostgreSQL.

A write in this project is seldom one row. A check-in is the check-in, its audit event and a
webhook outbox row per subscribed endpoint, and they must commit together. Saved one by one
inside ``transaction.atomic()`` that is five round trips to the database (BEGIN, three INSERTs,
COMMIT), and round trips are most of what a check-in costs. One SQL statement is atomic on its
own, so on PostgreSQL ``Writes`` gathers the new rows and ``flush()`` inserts them all in a
single statement of data-modifying CTEs::

    WITH w0 AS (INSERT INTO cyclecare_checkin ...), w1 AS (INSERT INTO clinician_auditevent ...)
    INSERT INTO cyclecare_webhookdelivery ...

One round trip; no transaction to open when nothing else is written; all rows or none.

Rows name each other by primary key (the audit event names its check-in), so a row gets its key
when it is added, not when it is inserted. Keys come from the table's own sequence, taken in
blocks per process (``KeyBlocks``, the "hi/lo" way of ORMs): one ``nextval`` query per
``KeyBlocks.size`` rows of a table. Keys stay unique, but are no longer in insertion order
across processes, so nothing may sort by id alone to mean "newest" (nothing does: every list
sorts by a time first, with the id only breaking ties).

A row per row of another table (a webhook delivery per subscribed endpoint) is ``add_each()``:
on PostgreSQL an ``INSERT … SELECT`` in the same statement, so the rows it copies from are read
by the write itself, with no SELECT round trip before it and nothing remembered between writes.

Elsewhere (SQLite in development and tests) ``add()`` saves each row at once, and the caller
provides the transaction. Values are prepared as Django's insert compiler prepares them
(``pre_save``, then ``get_db_prep_save``), so encrypted columns, JSON and ``auto_now_add`` come
out as ``save()`` writes them; only the SQL text is built once per model.

One statement cannot do ``save()``'s own work: send ``pre_save``/``post_save`` to receivers (a
host project's, say) or run an overridden ``save()``. So when any gathered row's model has such
work at flush time, ``flush()`` saves every row through the ORM instead, in one transaction, in
the order they were added — what SQLite does — and the receivers run on both databases alike.
A ``save()`` that only guards updates says so with ``gathered_inserts_ok = True``.
"""

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models import signals
from django.db.models.sql import InsertQuery

M = TypeVar("M", bound=models.Model)


class KeyBlocks:
    """Primary keys reserved from each table's sequence, ``size`` at a time, for this process.

    A forked child starts with none (it would otherwise hand out its parent's keys). Tests that
    reset sequences call ``clear()``."""

    size = 50

    def __init__(self) -> None:
        self._free: dict[tuple[str, str], list[int]] = {}
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self.clear)

    def clear(self) -> None:
        self._free = {}
        self._lock = threading.Lock()

    def take(self, connection, model: type[models.Model]) -> int:
        key = (connection.alias, model._meta.db_table)
        with self._lock:
            free = self._free.get(key)
            if not free:
                free = self._free[key] = self._reserve(connection, model)
            return free.pop()

    def _reserve(self, connection, model: type[models.Model]) -> list[int]:
        pk = model._meta.pk
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [connection.ops.quote_name(model._meta.db_table), pk.column, self.size],
            )
            # Popped from the end: handed out lowest first.
            return sorted((row[0] for row in cursor.fetchall()), reverse=True)


key_blocks = KeyBlocks()


def _has_save_hooks(model: type[models.Model]) -> bool:
    # A model whose save() only guards updates says so with ``gathered_inserts_ok = True``.
    return (
        (model.save is not models.Model.save and not getattr(model, "gathered_inserts_ok", False))
        or signals.pre_save.has_listeners(model)
        or signals.post_save.has_listeners(model)
    )


class Writes:
    """New rows to insert together. ``add()`` each (it returns the row, with its primary key
    set); ``on_commit()`` for work that must wait until they are committed; ``flush()`` once.

    On PostgreSQL the rows are gathered and ``flush()`` writes them in one statement, atomic on
    its own. Elsewhere ``add()`` saves each at once and the caller's transaction holds them
    together. ``together()`` picks and flushes for you."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.connection = connections[using]
        self.gathers = self.connection.vendor == "postgresql"
        self._rows: list[models.Model] = []
        self._each: list[tuple[Added, models.Model, models.Field, models.QuerySet]] = []
        self._callbacks: list[Callable[[], None]] = []
        self._flushed = False

    def add(self, row: M) -> M:
        if self._flushed:
            raise RuntimeError("These writes were already flushed.")
        if not self.gathers:
            row.save(force_insert=True, using=self.connection.alias)
            return row
        model = type(row)
        if model._meta.parents:
            # Its key comes from the parent's table, and its insert is two statements.
            raise TypeError(f"{model._meta.label} has a parent table; save it, do not gather it.")
        if row.pk is None and model._meta.auto_field is not None:
            row.pk = key_blocks.take(self.connection, model)
        self._rows.append(row)
        return row

    def add_each(self, template: M, *, field: str, source: "models.QuerySet | SelectSQL") -> "Added":
        """One copy of ``template`` per row of ``source`` (a one-column ``values_list``, or the
        ``SelectSQL`` of one, already compiled), its ``field`` set to that row's value. The
        copies' primary keys are in the returned ``Added`` once they are written: at once here
        (SQLite), at ``flush()`` on PostgreSQL, where the copies are an ``INSERT … SELECT`` of
        the same statement and ``source`` is read by the write itself (what is subscribed when
        the rows are written is what gets a row)."""
        if self._flushed:
            raise RuntimeError("These writes were already flushed.")
        added = Added()
        target = type(template)._meta.get_field(field)
        if not self.gathers:
            added.extend(self._save_copies(template, target, source))
            return added
        if type(template)._meta.parents:
            raise TypeError(f"{type(template)._meta.label} has a parent table; save it, do not gather it.")
        self._each.append((added, template, target, source))
        return added

    def _save_copies(self, template, target, source) -> list:
        alias = self.connection.alias
        keys = []
        if isinstance(source, SelectSQL):
            with self.connection.cursor() as cursor:
                cursor.execute(source.sql, source.params)
                values = [row[0] for row in cursor.fetchall()]
        else:
            values = list(source.using(alias))
        for value in values:
            row = _copy_of(template)
            setattr(row, target.attname, value)
            row.save(force_insert=True, using=alias)
            keys.append(row.pk)
        return keys

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the rows are committed (``transaction.on_commit`` after flush)."""
        if self.gathers:
            self._callbacks.append(callback)
        else:
            transaction.on_commit(callback, using=self.connection.alias)

    def flush(self) -> None:
        self._flushed = True
        if not self._rows and not self._each:
            return
        models_written = [type(row) for row in self._rows] + [
            type(template) for _, template, _, _ in self._each
        ]
        if any(_has_save_hooks(model) for model in models_written):
            self._save_each()
            return
        statements = [self._insert_sql(row) for row in self._rows]
        copies = [
            self._insert_select_sql(template, target, source) for _, template, target, source in self._each
        ]
        if copies:
            # Each INSERT … SELECT returns its keys; the final SELECT hands them all back.
            parts = [f"w{i} AS ({part})" for i, (part, _) in enumerate(statements)]
            parts += [f"c{j} AS ({part})" for j, (part, _) in enumerate(copies)]
            final = " UNION ALL ".join(f"SELECT {j}, pk FROM c{j}" for j in range(len(copies)))  # noqa: S608
            sql = "WITH " + ", ".join(parts) + f" {final}"
        else:
            *leading, (sql, _) = statements
            if leading:
                sql = (
                    "WITH "
                    + ", ".join(f"w{i} AS ({part})" for i, (part, _) in enumerate(leading))
                    + f" {sql}"
                )
        params = [param for _, part_params in [*statements, *copies] for param in part_params]
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            if copies:
                for index, pk in cursor.fetchall():
                    self._each[index][0].append(pk)
        for row in self._rows:
            row._state.adding = False
            row._state.db = self.connection.alias
        for callback in self._callbacks:
            transaction.on_commit(callback, using=self.connection.alias)

    def _save_each(self) -> None:
        """The ORM's save() for every row, in one transaction: receivers and overridden save()
        methods run, as they do when ``add()`` saves at once (SQLite)."""
        alias = self.connection.alias
        with transaction.atomic(using=alias):
            for row in self._rows:
                row.save(force_insert=True, using=alias)
            for added, template, target, source in self._each:
                added.extend(self._save_copies(template, target, source))
            for callback in self._callbacks:
                transaction.on_commit(callback, using=alias)

    def _insert_sql(self, row: models.Model) -> tuple[str, tuple]:
        """``row``'s INSERT: the SQL text built once per model, each value prepared as Django's
        insert compiler prepares it (``pre_save`` then ``get_db_prep_save``). A value that is an
        expression is left to the compiler itself."""
        shape = _insert_shape(self.connection, type(row))
        if shape is None:
            return _compiled_insert(self.connection, row)
        fields, sql = shape
        values = []
        for field in fields:
            value = field.pre_save(row, add=True)
            if hasattr(value, "resolve_expression"):
                return _compiled_insert(self.connection, row)
            values.append(field.get_db_prep_save(value, connection=self.connection))
        return sql, tuple(values)

    def _insert_select_sql(self, template, target, source) -> tuple[str, tuple]:
        """``INSERT INTO t (…) SELECT <template's values>, source.value FROM (<source>) … RETURNING``
        the new keys (named ``pk``), which the table's own sequence gives."""
        model = type(template)
        quote = self.connection.ops.quote_name
        columns, values, params = [], [], []
        for field in _insert_fields(model):
            if field.primary_key:
                continue
            columns.append(quote(field.column))
            if field is target:
                values.append("source.value")
                continue
            value = field.pre_save(template, add=True)
            if hasattr(value, "resolve_expression") or hasattr(field, "get_placeholder"):
                raise TypeError(f"{model._meta.label}.{field.name}: add_each takes plain values only.")
            values.append("%s")
            params.append(field.get_db_prep_save(value, connection=self.connection))
        if isinstance(source, SelectSQL):
            source_sql, source_params = source.sql, source.params
        else:
            source_sql, source_params = source.query.get_compiler(connection=self.connection).as_sql()
        # Quoted names from the model's meta; values travel as parameters.
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(values)} FROM ({source_sql}) AS source (value) "
            f"RETURNING {quote(model._meta.pk.column)} AS pk"
        )
        return sql, (*params, *source_params)


@dataclass(frozen=True)
class SelectSQL:
    """A one-column SELECT of plain values (keys: nothing to convert), compiled for the
    database it is written to; e.g. ``CompiledQuery``'s answer for a ``values_list``."""

    sql: str
    params: tuple


class Added(list):
    """The primary keys of the rows ``Writes.add_each`` wrote (empty until they are written)."""


def _copy_of(row: M) -> M:
    model = type(row)
    return model(**{field.attname: getattr(row, field.attname) for field in model._meta.concrete_fields})


_insert_shapes: dict[tuple[str, type[models.Model]], tuple[list, str] | None] = {}


def _insert_fields(model: type[models.Model]) -> list:
    return [field for field in model._meta.local_concrete_fields if not field.generated]


def _insert_shape(connection, model: type[models.Model]) -> tuple[list, str] | None:
    """The fields and INSERT text of ``model``; None if a field has its own SQL placeholder."""
    key = (connection.alias, model)
    if key not in _insert_shapes:
        fields = _insert_fields(model)
        if any(hasattr(field, "get_placeholder") for field in fields):
            _insert_shapes[key] = None
        else:
            quote = connection.ops.quote_name
            columns = ", ".join(quote(field.column) for field in fields)
            placeholders = ", ".join(["%s"] * len(fields))
            # Quoted names from the model's meta; values travel as parameters.
            table = quote(model._meta.db_table)
            _insert_shapes[key] = (fields, f"INSERT INTO {table} ({columns}) VALUES ({placeholders})")  # noqa: S608
    return _insert_shapes[key]


def _compiled_insert(connection, row: models.Model) -> tuple[str, tuple]:
    """Django's insert compiler, for a row holding an expression or a field with a placeholder."""
    query = InsertQuery(type(row))
    query.insert_values(_insert_fields(type(row)), [row], raw=False)
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    return sql, tuple(params)


@contextmanager
def together(using: str = DEFAULT_DB_ALIAS) -> Iterator[Writes]:
    """The rows added in the block are written together when it ends, or not at all if it raises:
    in one statement on PostgreSQL (in the caller's transaction if there is one, else needing
    none), inside ``transaction.atomic()`` elsewhere."""
    writes = Writes(using)
    if writes.gathers:
        yield writes
        writes.flush()
        return
    with transaction.atomic(using=using):
        yield writes
