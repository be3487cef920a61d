"""Who is calling the API: an integration client (OAuth2 client credentials, bound to one
practice) or a signed-in clinician (Django session, CSRF enforced)."""

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed

from clinician.models import IntegrationClient
from clinician.principals import PracticePrincipal


class IntegrationOAuth2Authentication(OAuth2Authentication):
    """A bearer token from /o/token/ becomes a PracticePrincipal carrying the token's scopes."""

    www_authenticate_realm = "cyclecare"

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        client = (
            IntegrationClient.objects.filter(application_id=token.application_id, is_active=True)
            .only("pk", "practice_id", "name")
            .first()
        )
        if user is not None or client is None:
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
