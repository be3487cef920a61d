"""Who may see which couple — decided here, once, and applied in querysets.

Scopes, for a user who is an active clinician:
- clinical: the couples the clinician treats (primary clinician), plus, for a supervisor,
  the couples their supervisees treat. Note bodies, check-in answers and flags need this.
- administrative: for a practice admin, every couple of their practice (aggregates, schedules);
  otherwise the same as clinical.
An integration client (a PracticePrincipal) sees its one practice; note bodies only with the
``notes:read`` scope, and safety flags never. Anyone else sees nothing.
"""

from typing import Literal

from django.core.exceptions import ValidationError
from django.db.models import Model, Q
from django.http import Http404

from .models import Clinician
from .principals import PracticePrincipal

Purpose = Literal["clinical", "administrative"]
NOTHING = Q(pk__in=[])


def acting_clinician(user) -> Clinician | None:
    """The active clinician record of an authenticated, active user (cached on the user)."""
    if isinstance(user, PracticePrincipal):
        return None
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if not hasattr(user, "_cyclecare_clinician"):
        user._cyclecare_clinician = (
            Clinician.objects.select_related("practice").filter(user=user, is_active=True).first()
        )
    return user._cyclecare_clinician


def clinician_record_for(user) -> Clinician | None:
    """The user's clinician record, active or not, in one query; it also answers
    ``acting_clinician`` for the rest of the request (the sign-out middleware asks first)."""
    record = Clinician.objects.select_related("practice").filter(user_id=user.pk).first()
    user._cyclecare_clinician = record if record is not None and record.is_active and user.is_active else None
    return record


def practice_admin_or_404(user) -> Clinician:
    """The acting clinician if they are their practice's admin; anyone else gets a 404, so the
    practice pages do not confirm they exist."""
    clinician = acting_clinician(user)
    if clinician is None or clinician.role != Clinician.Role.PRACTICE_ADMIN:
        raise Http404
    return clinician


def couple_scope(user, *, prefix: str = "", purpose: Purpose = "clinical") -> Q:
    """A Q over a queryset whose rows reach the couple through ``prefix`` ("" for Couple)."""
    if isinstance(user, PracticePrincipal):
        return Q(**{f"{prefix}practice_id": user.practice_id})
    clinician = acting_clinician(user)
    if clinician is None:
        return NOTHING
    in_practice = Q(**{f"{prefix}practice_id": clinician.practice_id})
    if purpose == "administrative" and clinician.role == Clinician.Role.PRACTICE_ADMIN:
        return in_practice
    treats = Q(**{f"{prefix}primary_clinician_id": clinician.pk})
    if clinician.role == Clinician.Role.SUPERVISOR:
        treats |= Q(**{f"{prefix}primary_clinician__supervisor_id": clinician.pk})
    return in_practice & treats


def row_scope(user, *, couple_prefix: str = "couple__", purpose: Purpose = "clinical") -> Q:
    """For PHI rows that carry their own practice_id and reach a couple: both walls must hold."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        return NOTHING
    return Q(practice_id=practice_id) & couple_scope(user, prefix=couple_prefix, purpose=purpose)


def practice_id_of(user) -> int | None:
    """The one practice a caller acts in, or None."""
    if isinstance(user, PracticePrincipal):
        return user.practice_id
    clinician = acting_clinician(user)
    return clinician.practice_id if clinician else None


def is_integration(user) -> bool:
    return isinstance(user, PracticePrincipal)


# ONE COUPLE: THE SAME RULE, ASKED OF A ROW
# ------------------------------------------------------------------------------
NOT_TREATING = "Only the couple's clinician or their supervisor can write its clinical record."


def couple_in_scope(user, couple: Model, *, purpose: Purpose = "clinical") -> bool:
    """Whether ``couple`` is in the user's scope for ``purpose``: ``couple_scope`` asked of one
    row (one query), so the rule for reads and for writes is written once."""
    return type(couple)._default_manager.filter(couple_scope(user, purpose=purpose), pk=couple.pk).exists()


def require_clinician(user) -> Clinician:
    """The acting clinician, or a validation error for anyone else."""
    clinician = acting_clinician(user)
    if clinician is None:
        raise ValidationError("Only an active clinician can do this.", code="not_clinician")
    return clinician


def _out_of_scope(message: str) -> ValidationError:
    return ValidationError({"couple": ValidationError(message, code="out_of_scope")})


def require_couple_access(user, couple: Model) -> Clinician | None:
    """For administrative writes (sessions, partners, consents): the acting clinician, if the
    couple is in their administrative scope; None for an integration client of the couple's
    practice (no clinician acts); otherwise a validation error."""
    if is_integration(user):
        if user.practice_id != couple.practice_id:
            raise _out_of_scope("This couple is not in your practice.")
        return None
    clinician = require_clinician(user)
    if not couple_in_scope(user, couple, purpose="administrative"):
        raise _out_of_scope("This couple is not in your caseload.")
    return clinician


def require_treating_access(
    user, couple: Model, *, field: str = "couple", message: str = NOT_TREATING
) -> Clinician:
    """For clinical writes (episodes, cycle maps, homework, notes, addenda, safety flags): the
    couple must be in the user's clinical scope — the treating clinician or their supervisor;
    a practice admin only as the couple's own clinician (refused with ``message`` on
    ``field``). The same people read the couple's clinical record, so nobody writes what they
    may not read. Integration clients may not."""
    if is_integration(user):
        raise ValidationError("Only a clinician can do this.", code="clinician_only")
    clinician = require_clinician(user)
    if couple_in_scope(user, couple, purpose="clinical"):
        return clinician
    if couple_in_scope(user, couple, purpose="administrative"):
        raise ValidationError({field: ValidationError(message, code="not_treating")})
    raise _out_of_scope("This couple is not in your caseload.")
