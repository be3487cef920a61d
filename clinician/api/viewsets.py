from django.http import Http404
from rest_framework import viewsets


class ScopedViewSet(viewsets.GenericViewSet):
    """A viewset whose rows come from a selector: ``select(user)`` returns only what the caller
    may see, so a row out of scope is a 404 on detail routes and absent from lists.
    ``model`` gives schema generation an empty queryset to introspect."""

    model = None
    lookup_value_regex = r"[0-9]+"

    def select(self, user):
        raise NotImplementedError

    def url_pk(self) -> int:
        """The detail route's id (for views that read through a ``*_get_for`` selector)."""
        try:
            return int(self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        except (KeyError, TypeError, ValueError):
            raise Http404 from None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return self.select(self.request.user)
