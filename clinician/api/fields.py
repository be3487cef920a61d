import copy
import datetime
from collections.abc import Callable

import django_filters
from django import forms
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(OpenApiTypes.INT)
class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key in a request body, resolved only among the rows the caller may see: an id
    outside their scope is the same 400 as an id that does not exist."""

    def __init__(self, *, selector, **kwargs):
        self.selector = selector
        kwargs.setdefault("queryset", None)
        if kwargs.get("read_only"):
            kwargs.pop("queryset")
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.selector(user=self.context["request"].user)

    def to_internal_value(self, data):
        # The ORM would truncate 1.5 into id 1: someone else's row, perhaps in scope.
        if isinstance(data, float) and not data.is_integer():
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class EmptyAsNullMixin:
    """Optional contact text that the model keeps as "" when there is none (a partner's email
    or phone). The API says ``null`` for "none", so a value that is there always has its
    documented format (``format: email`` never meets "") and a client tests for one absent
    value. On write, ``null`` and ``""`` both mean "none" and are stored as ""."""

    def __init__(self, **kwargs):
        kwargs["allow_null"] = True
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        return super().run_validation("" if data is None else data)

    def to_representation(self, value):
        return None if value in ("", None) else super().to_representation(value)


class EmptyAsNullCharField(EmptyAsNullMixin, serializers.CharField):
    pass


class EmptyAsNullEmailField(EmptyAsNullMixin, serializers.EmailField):
    pass


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time from a query string, in UTC. Python accepts UTC offsets up to ±23:59
    but PostgreSQL only up to ±15:59 (a DataError, so a 500, for ``+19:37``); in UTC the value
    means the same instant. One that has no UTC year (before year 1) is invalid input."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or timezone.is_naive(parsed):
            return parsed
        try:
            return parsed.astimezone(datetime.UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """django-filter's IsoDateTimeFilter with the value in UTC (see UTCIsoDateTimeField)."""

    field_class = UTCIsoDateTimeField


# A database id fits a signed 64-bit integer. SQLite cannot even bind a larger Python int (an
# OverflowError, so a 500), and a fraction such as 1.5 would be truncated into someone's id.
ID_MIN, ID_MAX = -(2**63), 2**63 - 1


class IdFilter(django_filters.NumberFilter):
    """An id in the query string: a whole number in the range of a database id, else a 400. As
    with NumberFilter, an unknown id and an id outside the caller's scope both list nothing (a
    model-choice filter would instead confirm which ids exist in other practices)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", ID_MIN)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)

    def get_max_validator(self):
        return None  # max_value bounds it already


class FieldsOnce:
    """For a serializer whose fields depend on its class alone (no per-request field changes):
    build them once per class, then give each instance copies. DRF otherwise builds them for
    every instance, i.e. for every request: a ModelSerializer introspects its model, and a
    plain Serializer deep-copies its declared fields, re-running each field's ``__init__``.

    A field is copied shallowly: binding, which is all an instance changes, sets attributes on
    the copy alone, and validation keeps its state on the serializer. A list or dict field's
    child is copied the same way and bound to its own copy of the parent. A field holding a
    serializer or related fields (a nested serializer, a many-related field) is deep-copied as
    DRF does, so each nested field is bound to its own parent and sees its own context."""

    def get_fields(self):
        prototype = type(self).__dict__.get("_fields_prototype")
        if prototype is None:
            prototype = super().get_fields()
            type(self)._fields_prototype = prototype
        return {name: _copy_field(field) for name, field in prototype.items()}


def _copy_field(field: serializers.Field) -> serializers.Field:
    if isinstance(field, serializers.BaseSerializer) or hasattr(field, "child_relation"):
        return copy.deepcopy(field)
    copied = copy.copy(field)
    child = getattr(field, "child", None)
    if child is not None:
        # Bound by ListField/DictField.__init__ (name "", source ""): only its parent differs.
        copied.child = _copy_field(child)
        copied.child.parent = copied
    return copied


def first_rows(*reads: tuple[QuerySet, tuple[str, ...]]) -> list[tuple | None]:
    """For each ``(queryset, columns)``: the first row's values in ``columns`` order, or None
    when the queryset has no row, all read in one round trip.

    Each queryset is compiled as the ORM would (its scope, its converters) and the reads are
    joined side by side on a one-row base: ``SELECT * FROM (SELECT 1) LEFT JOIN (q0) ON 1=1
    LEFT JOIN (q1) ON 1=1``, plain SQL that PostgreSQL and SQLite answer alike. The first
    column of each read must never be NULL in a row (the primary key): NULL there means "no
    row"."""
    if not reads:
        return []
    return _run(*_compile(reads))


def _compile(reads) -> tuple[str, list, list, str]:
    alias = reads[0][0].db
    parts, params, shapes = [], [], []
    for index, (queryset, columns) in enumerate(reads):
        if queryset.db != alias:
            raise ValueError("first_rows reads from one database.")
        compiler = queryset.values_list(*columns)[:1].query.get_compiler(using=alias)
        try:
            sql, part_params = compiler.as_sql()
        except EmptyResultSet:  # .none(), or a filter on an empty list: no row, no SQL
            sql, part_params = f"SELECT {', '.join(['NULL'] * len(columns))}", ()
        converters = compiler.get_converters([column for column, _, _ in compiler.select or ()])
        parts.append(f"LEFT JOIN ({sql}) AS read{index} ON 1 = 1")
        params.extend(part_params)
        shapes.append((compiler, converters, len(columns)))
    # Compiled querysets; their values travel as parameters.
    return f"SELECT * FROM (SELECT 1 AS base) AS base {' '.join(parts)}", params, shapes, alias  # noqa: S608


def _run(sql: str, params: list, shapes: list, alias: str) -> list[tuple | None]:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        values = cursor.fetchone()[1:]
    rows: list[tuple | None] = []
    start = 0
    for compiler, converters, width in shapes:
        part = values[start : start + width]
        start += width
        if part[0] is None:
            rows.append(None)
        elif converters:
            rows.append(tuple(next(iter(compiler.apply_converters([list(part)], converters)))))
        else:
            rows.append(tuple(part))
    return rows


def _stand_in(value: int | str, offset: int, index: int) -> int | str:
    """A value no row and no constant in code has, of ``value``'s type."""
    if isinstance(value, str):
        return f"\x00stand-in {offset}.{index}"
    return -(2**62) - 7919 * (offset + 1) - index


class CompiledReads:
    """``first_rows`` for reads whose SQL text depends on no data, only on the numbers passed
    in (ids, a token's checksum): the text is compiled once per process, and each call puts
    them in the parameters, then reads in one round trip with no compiling (the dearest step of a small
    read, more than the round trip itself).

    What is kept is SQL text and where the numbers go in it, never a row: no write can make
    it stale, every process compiles the same text, and nothing needs emptying (no signal, no
    fork hook, no test reset). That the text depends on the numbers alone is checked, not
    assumed: it is compiled twice with different stand-ins, and must come out the same but for
    them, having run no query while the querysets were built. Reads that fail the check are
    compiled on every call. ``build(**numbers)`` returns the ``(queryset, columns)`` pairs."""

    def __init__(self, build: Callable[..., list[tuple[QuerySet, tuple[str, ...]]]]) -> None:
        self.build = build
        self._compiled: tuple | None = None

    def __call__(self, **numbers: int | str) -> list[tuple | None]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = _compile_checked(self.build, numbers, _compile_reads)
        if compiled is False:
            return first_rows(*self.build(**numbers))
        sql, params, (shapes, alias), _ = compiled
        return _run(sql, _put(params, compiled, numbers), shapes, alias)


class CompiledQuery:
    """One queryset's SQL (``build(**numbers)`` returns it), compiled once per process and
    checked exactly as ``CompiledReads`` checks its reads; each call returns ``(sql, params)``
    with the numbers in the parameters, to run as part of a statement of one's own (a
    ``Writes.add_each`` source, say). Text only, never a row."""

    def __init__(self, build: Callable[..., QuerySet]) -> None:
        self.build = build
        self._compiled: tuple | None = None

    def __call__(self, **numbers: int | str) -> tuple[str, tuple]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = _compile_checked(self.build, numbers, _compile_query)
        if compiled is False:
            sql, params, _ = _compile_query(self.build(**numbers))
            return sql, tuple(params)
        return compiled[0], tuple(_put(compiled[1], compiled, numbers))


def _compile_reads(reads) -> tuple[str, list, tuple]:
    sql, params, shapes, alias = _compile(reads)
    return sql, params, (shapes, alias)


def _compile_query(queryset: QuerySet) -> tuple[str, list, str]:
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    return sql, list(params), queryset.db


def _put(params: tuple, compiled: tuple, numbers: dict) -> list:
    """The compiled parameters with each number in its places."""
    params = list(params)
    for name, places in compiled[3].items():
        for place in places:
            params[place] = numbers[name]
    return params


def _compile_checked(build, example: dict[str, int | str], compile_) -> tuple | bool:
    """``(sql, params, extra, positions)`` of what ``build`` builds, with the places of each
    number among the parameters; False when the text might depend on anything but the numbers
    (building it ran a query, or two compilations with different stand-ins differ elsewhere)."""
    versions = []
    queries: list[str] = []

    def record(execute, sql, *args):
        queries.append(sql)
        return execute(sql, *args)

    for offset in range(2):
        stand_ins = {
            name: _stand_in(value, offset, index)
            for index, (name, value) in enumerate(sorted(example.items()))
        }
        with connections[DEFAULT_DB_ALIAS].execute_wrapper(record):
            built = build(**stand_ins)
        if queries:
            return False  # building the querysets read data: their text may depend on it
        try:
            sql, params, extra = compile_(built)
        except EmptyResultSet:
            return False
        positions = {
            name: [i for i, value in enumerate(params) if value == number]
            for name, number in stand_ins.items()
        }
        versions.append((sql, params, extra, positions))
    (sql, params, extra, positions), (sql2, params2, _, positions2) = versions
    if sql != sql2 or len(params) != len(params2) or positions != positions2:
        return False
    places = {place for found in positions.values() for place in found}
    same_elsewhere = all(
        a == b for i, (a, b) in enumerate(zip(params, params2, strict=True)) if i not in places
    )
    if not same_elsewhere or not all(positions.values()):
        return False
    return sql, tuple(params), extra, positions
