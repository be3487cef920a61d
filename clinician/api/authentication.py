"""Who is calling the API: an integration client (OAuth2 client credentials, bound to one
practice) or a signed-in clinician (Django session, CSRF enforced)."""

import hashlib
import itertools

from django.contrib.auth import get_user_model
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import get_access_token_model, get_application_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed

from clinician.api.fields import CompiledReads
from clinician.models import IntegrationClient
from clinician.principals import PracticePrincipal


def _columns(model) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


AccessToken = get_access_token_model()
Application = get_application_model()
User = get_user_model()
TOKEN_COLUMNS = _columns(AccessToken)
APPLICATION_COLUMNS = _columns(Application)
CLIENT_COLUMNS = _columns(IntegrationClient)
USER_COLUMNS = _columns(User)

# One read: the token with its application, the application's integration client and the
# token's user (none for client credentials), by checksum. Compiled once per process: the text
# is the same for every token, the checksum a parameter; no token or answer is kept.
_token_read = CompiledReads(
    lambda *, checksum: [
        (
            AccessToken.objects.filter(token_checksum=checksum),
            (
                *TOKEN_COLUMNS,
                *(f"application__{column}" for column in APPLICATION_COLUMNS),
                *(f"application__integration_client__{column}" for column in CLIENT_COLUMNS),
                *(f"user__{column}" for column in USER_COLUMNS),
            ),
        )
    ]
)


def _part(model, columns, values):
    return None if values[0] is None else model.from_db(model.objects.db, columns, values)


class IntegrationOAuth2Validator(OAuth2Validator):
    """django-oauth-toolkit's validator, loading a bearer token's integration client in the same
    query as the token and its application (one query per request instead of two), from SQL
    text compiled once (``_token_read``). Every rule on the token stays the toolkit's."""

    def _load_access_token(self, token):
        [row] = _token_read(checksum=hashlib.sha256(token.encode("utf-8")).hexdigest())
        if row is None:
            return None
        bounds = itertools.accumulate(
            (len(TOKEN_COLUMNS), len(APPLICATION_COLUMNS), len(CLIENT_COLUMNS), len(USER_COLUMNS)), initial=0
        )
        starts = list(bounds)
        token_values, app_values, client_values, user_values = (
            row[start:end] for start, end in itertools.pairwise(starts)
        )
        access_token = _part(AccessToken, TOKEN_COLUMNS, token_values)
        application = _part(Application, APPLICATION_COLUMNS, app_values)
        if application is not None:
            # A reverse one-to-one: None cached means "none", as select_related records it.
            application._state.fields_cache["integration_client"] = _part(
                IntegrationClient, CLIENT_COLUMNS, client_values
            )
        access_token.application = application
        access_token.user = _part(User, USER_COLUMNS, user_values)
        return access_token


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
