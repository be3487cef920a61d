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
