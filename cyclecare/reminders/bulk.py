"""Set-based writes for the planner and the dispatcher.

At scale the reminders' time goes into writing rows, and most of it was the ORM's per-object
work (model instances for bulk_create, one CASE expression per row and field for bulk_update),
not the database's (bench/reminders_bench.py). On PostgreSQL these helpers send one statement
per batch with the values as binary arrays — ``INSERT … SELECT FROM unnest(…)`` and ``UPDATE …
FROM unnest(…)`` on a server-binding cursor; on other databases (SQLite in development and
tests) they fall back to bulk_create and bulk_update. Both run inside the caller's transaction
and raise Django's database errors.
"""

import enum

from django.db import connection, models
from django.utils import timezone


def _plain(value: object) -> object:
    # psycopg sends an Enum member's name; a model field's choices are stored by value.
    return value.value if isinstance(value, enum.Enum) else value


def _array_type(model_field: models.Field) -> str:
    # varchar, not varchar(20): a parameter is never truncated on the way in.
    return model_field.db_type(connection).split("(")[0]


def _execute(sql: str, params: list) -> list[tuple]:
    import psycopg  # PostgreSQL only

    connection.ensure_connection()
    # A server-binding cursor on Django's connection (so in its transaction): the arrays travel
    # as binary parameters instead of being quoted into the SQL text.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def rows_insert(model, values: dict[str, list], *, returning: tuple[str, ...]) -> list[tuple] | None:
    """Insert one row per position of the equal-length lists in ``values`` (attribute name →
    values); the model's other fields take their defaults (``auto_now_add``: now). A row that
    conflicts with one already there is skipped. On PostgreSQL, returns the ``returning``
    columns of the rows inserted; elsewhere (bulk_create, which cannot say which rows went in
    with ignore_conflicts) returns None and the caller reads them back."""
    count = len(next(iter(values.values()), []))
    if not count:
        return []
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            (model(**{name: column[n] for name, column in values.items()}) for n in range(count)),
            ignore_conflicts=True,
        )
        return None
    now = timezone.now()
    quote = connection.ops.quote_name
    columns, selects, constants, arrays = [], [], [], []
    for model_field in model._meta.concrete_fields:
        if model_field.primary_key:
            continue
        columns.append(quote(model_field.column))
        if model_field.attname in values:
            selects.append(f"u.{quote(model_field.column)}")
            arrays.append((model_field, values[model_field.attname]))
            continue
        auto_now = getattr(model_field, "auto_now_add", False) or getattr(model_field, "auto_now", False)
        default = _plain(now if auto_now else model_field.get_default())
        selects.append(f"%s::{_array_type(model_field)}")
        constants.append(model_field.get_db_prep_save(default, connection))
    unnest = ", ".join(f"%s::{_array_type(f)}[]" for f, _ in arrays)
    names = ", ".join(quote(f.column) for f, _ in arrays)
    returned = ", ".join(quote(model._meta.get_field(name).column) for name in returning)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608 (model metadata)
        f"SELECT {', '.join(selects)} FROM unnest({unnest}) AS u({names}) "
        f"ON CONFLICT DO NOTHING RETURNING {returned}"
    )
    return _execute(sql, [*constants, *(column for _, column in arrays)])


def rows_update(
    objs: list[models.Model],
    fields: list[str],
    *,
    match: tuple[str, ...] = (),
    only_if: dict[str, object] | None = None,
) -> int:
    """Write each instance's ``fields`` to its row (by primary key) in one ``UPDATE … FROM
    unnest(…)`` on PostgreSQL — bulk_update without a CASE per row and field. Only rows whose
    ``match`` fields still equal the instance's values and whose ``only_if`` fields equal
    those constants are changed. Returns how many rows were."""
    if not objs:
        return 0
    model = type(objs[0])
    only_if = only_if or {}
    if connection.vendor != "postgresql":
        if not match and not only_if:
            return model.objects.bulk_update(objs, fields)
        return sum(
            model.objects.filter(pk=obj.pk, **{name: getattr(obj, name) for name in match}, **only_if).update(
                **{name: getattr(obj, model._meta.get_field(name).attname) for name in fields}
            )
            for obj in objs
        )
    quote = connection.ops.quote_name
    pk = model._meta.pk
    targets = [model._meta.get_field(name) for name in fields]
    matched = [model._meta.get_field(name) for name in match]
    per_row = [pk, *targets, *matched]
    names = [quote(f"{f.column}_{n}") for n, f in enumerate(per_row)]  # matched and set may share one
    arrays = [
        [f.get_db_prep_save(_plain(getattr(obj, f.attname)), connection) for obj in objs] for f in per_row
    ]
    conditions = [f"t.{quote(pk.column)} = u.{names[0]}"]
    conditions += [
        f"t.{quote(f.column)} = u.{name}" for f, name in zip(matched, names[1 + len(targets) :], strict=True)
    ]
    constants = []
    for name, value in only_if.items():
        model_field = model._meta.get_field(name)
        conditions.append(f"t.{quote(model_field.column)} = %s::{_array_type(model_field)}")
        constants.append(model_field.get_db_prep_save(_plain(value), connection))
    assignments = ", ".join(
        f"{quote(f.column)} = u.{name}" for f, name in zip(targets, names[1 : 1 + len(targets)], strict=True)
    )
    unnest = ", ".join(f"%s::{_array_type(f)}[]" for f in per_row)
    sql = (
        f"UPDATE {quote(model._meta.db_table)} AS t SET {assignments} "  # noqa: S608 (model metadata)
        f"FROM unnest({unnest}) AS u({', '.join(names)}) WHERE {' AND '.join(conditions)} "
        f"RETURNING t.{quote(pk.column)}"
    )
    return len(_execute(sql, [*arrays, *constants]))
