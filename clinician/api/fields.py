import copy
import datetime
from collections.abc import Callable

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import Model, QuerySet
from django.utils import timezone
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinician.api.process_cache import ProcessCache
from clinician.permissions import is_integration


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


class ReadOnlyFieldsOnce:
    """For a read-only ModelSerializer: build its fields from the model once per class, then
    give each instance copies. ModelSerializer otherwise introspects the model for every
    instance, i.e. for every response, and the fields of a read-only shape depend on its class
    alone.

    A plain field is copied shallowly: DRF's deep copy re-runs the field's ``__init__`` (most of
    a small response's cost), while binding, which is all an instance changes, sets attributes
    on the copy alone. A field holding other fields (a nested serializer, a list or dict field's
    child) is deep-copied as DRF does, so each nested field is bound to its own parent and sees
    its own context."""

    def get_fields(self):
        prototype = type(self).__dict__.get("_fields_prototype")
        if prototype is None:
            prototype = super().get_fields()
            type(self)._fields_prototype = prototype
        return {name: _copy_field(field) for name, field in prototype.items()}


def _copy_field(field: serializers.Field) -> serializers.Field:
    nested = (
        isinstance(field, serializers.BaseSerializer)
        or hasattr(field, "child")
        or hasattr(field, "child_relation")
    )
    return copy.deepcopy(field) if nested else copy.copy(field)


# An id no row has: the compiled SQL carries it where the requested id goes.
_ID_PLACEHOLDER = -(2**62) - 7919


class RowById:
    """Some columns of one row of a selector's queryset, by id, with the SQL compiled once.

    Turning a queryset into SQL is the dearest step of a small read (more than the round trip to
    the database for a scoped, joined, one-row query). For an integration client the selector's
    scope depends on the client's practice alone, so on PostgreSQL the SQL is compiled once per
    practice in this process, with a stand-in for the id, and each read swaps the id in: one
    round trip, no compiling. Anyone else (a signed-in clinician, whose scope follows their
    supervision), or a column that needs a converter, goes through the ORM every time.

    ``queryset_for(user=...)`` is the selector; whatever it scopes, this reads no wider."""

    def __init__(
        self, name: str, model: type[Model], queryset_for: Callable[..., QuerySet], columns: tuple[str, ...]
    ) -> None:
        self.model = model
        self.queryset_for = queryset_for
        self.columns = columns
        # practice id -> (sql, params, index of the id) or None (not compilable once: use the ORM)
        self._compiled = ProcessCache(f"compiled-{name}", seconds=3600)

    def get(self, user, pk: int) -> tuple | None:
        """The row's values in ``columns`` order, or None if the caller's scope holds no such row."""
        connection = connections[router.db_for_read(self.model)]
        if is_integration(user) and connection.vendor == "postgresql":
            compiled = self._compiled.get(user.practice_id)
            if compiled is None:
                compiled = self._compile(self.queryset_for(user=user))
                self._compiled.put(user.practice_id, compiled)
            if compiled:
                sql, params, index = compiled
                params = [*params[:index], pk, *params[index + 1 :]]
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)
                    return cursor.fetchone()
        return self.queryset_for(user=user).filter(pk=pk).values_list(*self.columns).first()

    def _compile(self, queryset: QuerySet) -> tuple[str, tuple, int] | bool:
        query = queryset.filter(pk=_ID_PLACEHOLDER).values_list(*self.columns)[:1].query
        compiler = query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        positions = [index for index, value in enumerate(params) if value == _ID_PLACEHOLDER]
        if len(positions) != 1 or compiler.get_converters([column for column, _, _ in compiler.select]):
            return False
        return sql, tuple(params), positions[0]
