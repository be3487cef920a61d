"""Callers that are not people: an integration client acting for exactly one practice."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PracticePrincipal:
    """What request.user is for an OAuth2 client-credentials token: bound to one practice,
    carrying the token's scopes. Selectors scope it to its practice; services refuse it the
    writes only a clinician may make (notes, maps, episodes, homework, flags)."""

    client_id: int
    practice_id: int
    name: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def pk(self) -> str:
        return f"integration:{self.client_id}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def __str__(self) -> str:
        return f"integration client #{self.client_id}"
