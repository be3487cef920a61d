import copy
import datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(OpenApiTypes.INT)
class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key in a request body, resolved only among the rows the caller may see: an id
    outside their scope is the same 400 as an id that does not exist."""

    def __init__(self, *, selector, **kwargs):  # type: ignore[no-untyped-def]
        self.selector = selector
        kwargs.setdefault("queryset", None)
        if kwargs.get("read_only"):
            kwargs.pop("queryset")
        super().__init__(**kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return self.selector(user=self.context["request"].user)


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time from a query string, in UTC. Python accepts UTC offsets up to ±23:59
    but PostgreSQL only up to ±15:59 (a DataError, so a 500, for ``+19:37``); in UTC the value
    means the same instant. One that has no UTC year (before year 1) is invalid input."""

    def to_python(self, value):  # type: ignore[no-untyped-def]
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

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("min_value", ID_MIN)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)

    def get_max_validator(self):  # type: ignore[no-untyped-def]
        return None  # max_value bounds it already


class ReadOnlyFieldsOnce:
    """For a read-only ModelSerializer: build its fields from the model once per class, then
    give each instance copies. ModelSerializer otherwise introspects the model for every
    instance, i.e. for every response, and the fields of a read-only shape depend on its class
    alone."""

    def get_fields(self):  # type: ignore[no-untyped-def]
        prototype = type(self).__dict__.get("_fields_prototype")
        if prototype is None:
            prototype = super().get_fields()  # type: ignore[misc]
            type(self)._fields_prototype = prototype
        return copy.deepcopy(prototype)
