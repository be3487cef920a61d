"""Who is calling the API: an integration client (OAuth2 client credentials, bound to one
practice) or a signed-in clinician (Django session, CSRF enforced)."""

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Subquery
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import AbstractApplication, get_access_token_model, get_application_model
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


def _token_row(checksum):
    """The token with its application, the application's integration client and the token's
    user (none for client credentials), by checksum: one row."""
    return (
        AccessToken.objects.filter(token_checksum=checksum),
        (
            *TOKEN_COLUMNS,
            *(f"application__{column}" for column in APPLICATION_COLUMNS),
            *(f"application__integration_client__{column}" for column in CLIENT_COLUMNS),
            *(f"user__{column}" for column in USER_COLUMNS),
        ),
    )


# One read of the token row, compiled once per process (CompiledReads): the text is the same for
# every token, the checksum a parameter; no token or answer is kept.
_token_read = CompiledReads(lambda *, checksum: [_token_row(checksum)])


def _checksum(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _part(model, columns, values):
    return None if values[0] is None else model.from_db(model.objects.db, columns, values)


def _access_token_of(row) -> AccessToken | None:
    """The AccessToken (with its application, integration client and user attached) of a row
    read by ``_token_row``; None when there is no such token."""
    if row is None:
        return None
    starts = list(
        itertools.accumulate(
            (len(TOKEN_COLUMNS), len(APPLICATION_COLUMNS), len(CLIENT_COLUMNS), len(USER_COLUMNS)), initial=0
        )
    )
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


class ReadsWithToken:
    """Rows a request names, read in the same query as its bearer token.

    A view offers them with ``reads_with_token(request)``, returning ``(reads, numbers)`` (or
    None): ``reads`` is one of these, built at import from ``build(*, practice_id, **numbers)``
    that returns the ``(queryset, columns)`` pairs (``first_rows``) as an integration client of
    practice ``practice_id`` may see them. Here ``practice_id`` is the token's own client's
    practice, as a subquery of the same statement, so the rows are scoped exactly as the
    selectors scope them for the principal the token becomes, in the same snapshot. The text is
    compiled once per process (``CompiledReads``); rows are never kept beyond the request.

    The rows are used only once the token has been accepted (``rows_read_with_token``), and
    only for the numbers they were read for."""

    def __init__(self, build: Callable[..., list]) -> None:
        self._reads = CompiledReads(
            lambda *, checksum, **numbers: [
                _token_row(checksum),
                *build(practice_id=Subquery(_client_practice(checksum)), **numbers),
            ]
        )

    def __call__(self, *, checksum: str, **numbers) -> tuple[tuple | None, list[tuple | None]]:
        token_row, *rows = self._reads(checksum=checksum, **numbers)
        return token_row, rows


def _client_practice(checksum):
    """The practice of the token's application's integration client: two one-table lookups by
    unique keys, nothing for the planner to join."""
    application = AccessToken.objects.filter(token_checksum=checksum).values("application_id")[:1]
    return IntegrationClient.objects.filter(application_id=Subquery(application)).values("practice_id")[:1]


@dataclass(frozen=True)
class RowsReadWithToken:
    practice_id: int
    numbers: dict
    rows: list


def rows_read_with_token(request, **numbers) -> list | None:
    """The rows the view asked for in ``reads_with_token`` when they were read with this
    request's token for exactly these ``numbers`` (and the token was accepted), else None."""
    read = getattr(request, "rows_read_with_token", None)
    user = getattr(request, "user", None)
    if read is None or read.numbers != numbers or getattr(user, "practice_id", None) != read.practice_id:
        return None
    return read.rows


def _bearer_in_header(request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` when oauthlib would take it from there and
    nothing else in the request could change its answer (no query string: an access_token there
    is refused, and oauthlib parses it); None sends the request the toolkit's whole way."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    parts = header.split()
    if (
        len(parts) != 2
        or parts[0].lower() != "bearer"
        or header.split(" ")[0].lower() != "bearer"
        or request.META.get("QUERY_STRING")
    ):
        return None
    return parts[1]


def _accepted(access_token) -> bool:
    """django-oauth-toolkit's own test of a bearer token (``validate_bearer_token`` with no
    required scopes) for a token that needs none of its optional steps: not expired, bound to no
    resource (RFC 8707 audience), its application usable (the stock ``is_usable``)."""
    if access_token is None or not access_token.is_valid([]) or access_token.resource:
        return False
    application = access_token.application
    return application is None or type(application).is_usable is AbstractApplication.is_usable


class IntegrationOAuth2Validator(OAuth2Validator):
    """django-oauth-toolkit's validator, loading a bearer token's integration client in the same
    query as the token and its application (one query per request instead of two), from SQL
    text compiled once (``_token_read``). Every rule on the token stays the toolkit's."""

    def _load_access_token(self, token):
        [row] = _token_read(checksum=_checksum(token))
        return _access_token_of(row)


class IntegrationOAuth2Authentication(OAuth2Authentication):
    """A bearer token from /o/token/ becomes a PracticePrincipal carrying the token's scopes.

    The token is read on every request, in one query (token, application, user and integration
    client; with the rows the view names, ``ReadsWithToken``). Nothing is remembered between
    requests: a revoked or expired token, or a deactivated client, is refused by the very next
    request, in every process.

    A token in the ``Authorization`` header that the toolkit's test accepts (``_accepted``) is
    taken without going through oauthlib's request parsing; every other request (a token
    missing, expired, unknown, bound to a resource, sent another way) goes the toolkit's whole
    way, which decides and says why, exactly as before."""

    www_authenticate_realm = "cyclecare"

    def authenticate(self, request):
        if request is None:
            return None
        token = _bearer_in_header(request)
        if token is None:
            return self._toolkit_authenticate(request)
        request.POST  # noqa: B018 - the toolkit reads the body first (a bad body fails here alike)
        checksum = _checksum(token)
        offered = getattr(request.parser_context.get("view"), "reads_with_token", None)
        wanted = offered(request) if offered is not None else None
        if wanted is None:
            [token_row], rows, numbers = _token_read(checksum=checksum), None, None
        else:
            reads, numbers = wanted
            token_row, rows = reads(checksum=checksum, **numbers)
        access_token = _access_token_of(token_row)
        if not _accepted(access_token):
            return self._toolkit_authenticate(request)
        principal = self._principal(access_token.user, access_token)
        if rows is not None:
            request.rows_read_with_token = RowsReadWithToken(principal.practice_id, numbers, rows)
        return principal, access_token

    def _toolkit_authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        return self._principal(user, token), token

    @staticmethod
    def _principal(user, token) -> PracticePrincipal:
        # Joined to the token's row (a query otherwise). None for a token without an
        # application, or an application without an integration client.
        client = getattr(token.application, "integration_client", None)
        if user is not None or client is None or not client.is_active:
            raise AuthenticationFailed("This token does not belong to an active integration client.")
        return PracticePrincipal(
            client_id=client.pk,
            practice_id=client.practice_id,
            name=client.name,
            scopes=frozenset(token.scope.split()),
        )


class ClinicianSessionAuthentication(SessionAuthentication):
    """Our own pages call the API with the session cookie (CSRF checked on unsafe methods)."""
