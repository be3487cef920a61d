"""Who may call an endpoint at all. What they may see is decided by the selectors."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from clinician.permissions import acting_clinician, is_integration


def integrations_may_call(view, method: str) -> bool:
    """Whether an integration client may call ``method`` on the view at all (given the scopes):
    never where ``allow_integrations`` is False (safety flags), and only to read where
    ``integration_writes`` is False (clinical records, whose every write the services keep for
    clinicians). The permission asks it, and the OpenAPI schema documents it as the operation's
    security."""
    if not getattr(view, "allow_integrations", True):
        return False
    return method.upper() in SAFE_METHODS or getattr(view, "integration_writes", True)


class IsClinicianOrIntegration(BasePermission):
    """An active clinician, or an integration client whose token has the scope for the method
    (``read`` for safe methods, ``write`` otherwise, plus the view's ``required_scopes``).
    Views with ``allow_integrations = False`` are for clinicians only; views with
    ``integration_writes = False`` are read-only to integration clients."""

    message = "You need to be signed in as a clinician, or use an integration token with the right scope."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if is_integration(user):
            if not integrations_may_call(view, request.method):
                self.message = (
                    "This endpoint is for clinicians only."
                    if not getattr(view, "allow_integrations", True)
                    else "Integration clients may read here; only clinicians write."
                )
                return False
            needed = {"read" if request.method in SAFE_METHODS else "write"}
            needed |= set(getattr(view, "required_scopes", ()))
            missing = sorted(scope for scope in needed if not user.has_scope(scope))
            if missing:
                self.message = f"Your token lacks the scope(s): {', '.join(missing)}."
                return False
            return True
        return acting_clinician(user) is not None
