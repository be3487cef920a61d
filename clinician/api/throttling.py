from rest_framework.throttling import SimpleRateThrottle

from clinician.permissions import is_integration


class PrincipalRateThrottle(SimpleRateThrottle):
    """One bucket per integration client or per user, in the shared cache (Redis in production)."""

    scope = "principal"

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        user = request.user
        if is_integration(user):
            ident = f"integration:{user.client_id}"
        elif user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"anon:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
