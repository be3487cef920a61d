"""Who is calling the API: an integration client (OAuth2 client credentials, bound to one
practice) or a signed-in clinician (Django session, CSRF enforced)."""

import hashlib

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed

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


class IntegrationOAuth2Authentication(OAuth2Authentication):
    """A bearer token from /o/token/ becomes a PracticePrincipal carrying the token's scopes.

    django-oauth-toolkit validates the token on every request, in one query (token, application,
    user and integration client: ``IntegrationOAuth2Validator``). Nothing is remembered between
    requests: a revoked or expired token, or a deactivated client, is refused by the very next
    request, in every process."""

    www_authenticate_realm = "cyclecare"

    def authenticate(self, request):
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
        return principal, token


class ClinicianSessionAuthentication(SessionAuthentication):
    """Our own pages call the API with the session cookie (CSRF checked on unsafe methods)."""
