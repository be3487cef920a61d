"""Who is calling the API: an integration client (OAuth2 client credentials, bound to one
practice) or a signed-in clinician (Django session, CSRF enforced)."""

import hashlib

from django.db.models.signals import post_delete, post_save
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed

from clinician.api.process_cache import ProcessCache
from clinician.models import IntegrationClient
from clinician.principals import PracticePrincipal


class IntegrationOAuth2Validator(OAuth2Validator):
    """django-oauth-toolkit's validator, loading a bearer token's integration client in the same
    query as the token and its application (one query per request instead of two)."""

    def _load_access_token(self, token):
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        return (
            get_access_token_model()
            .objects.select_related("application", "user", "application__integration_client")
            .filter(token_checksum=checksum)
            .first()
        )


# Bearer tokens this process validated lately: SHA-256 of the token → (principal, token). Saving
# or deleting an access token (revocation deletes it) or an integration client (deactivation)
# empties it in this process at once; another process may still accept a revoked token or a
# deactivated client for up to ``seconds``, never past the token's own expiry.
token_cache = ProcessCache("oauth2-tokens", seconds=5)
for _model in (get_access_token_model(), IntegrationClient):
    for _signal in (post_save, post_delete):
        _signal.connect(token_cache.clear, sender=_model, dispatch_uid=f"token-cache-{_model._meta.label}")


def _bearer_checksum(request) -> str | None:
    """SHA-256 of the bearer token in the Authorization header (as oauthlib reads it), or None.
    A token in the query string is left to django-oauth-toolkit, which refuses it (RFC 9700)."""
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer" or "access_token" in request.GET:
        return None
    return hashlib.sha256(parts[1].encode("utf-8")).hexdigest()


class IntegrationOAuth2Authentication(OAuth2Authentication):
    """A bearer token from /o/token/ becomes a PracticePrincipal carrying the token's scopes.

    django-oauth-toolkit validates a token the first time a process sees it (and again once its
    ``token_cache`` entry has lapsed); repeats reuse that answer, skipping oauthlib's request
    parsing and the token query."""

    www_authenticate_realm = "cyclecare"

    def authenticate(self, request):
        checksum = _bearer_checksum(request)
        if checksum is not None:
            cached = token_cache.get(checksum)
            if cached is not None:
                return cached
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        # Joined to the token's row by IntegrationOAuth2Validator (a query otherwise). None for a
        # token without an application, or an application without an integration client.
        client = getattr(token.application, "integration_client", None)
        if user is not None or client is None or not client.is_active:
            raise AuthenticationFailed("This token does not belong to an active integration client.")
        principal = PracticePrincipal(
            client_id=client.pk,
            practice_id=client.practice_id,
            name=client.name,
            scopes=frozenset(token.scope.split()),
        )
        # A token limited to resources (RFC 8707) is checked against each request's URI.
        if checksum is not None and not token.resource:
            token_cache.put(checksum, (principal, token), deadline=token.expires.timestamp())
        return principal, token


class ClinicianSessionAuthentication(SessionAuthentication):
    """Our own pages call the API with the session cookie (CSRF checked on unsafe methods)."""
