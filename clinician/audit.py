"""The audit trail: who wrote or read what, by id. Services call audit_record()."""

from collections.abc import Iterable

from django.db import models

from .models import AuditEvent
from .principals import PracticePrincipal


def record_label(model: type[models.Model]) -> str:
    """The name of a model's rows in the records others keep: the audit trail's ``target_type``
    and the ids of FHIR resources. It is the model's ``_meta.label``, except for a model that
    moved between apps, which keeps its old label in ``record_label`` (DECISIONS 48): the trail
    is append-only and integrations hold the ids, so neither may change with the code's layout."""
    return getattr(model, "record_label", model._meta.label)


def _actor(actor: object) -> tuple[str, str]:
    if actor is None:
        return AuditEvent.ActorKind.SYSTEM, ""
    if isinstance(actor, PracticePrincipal):
        return AuditEvent.ActorKind.INTEGRATION, str(actor.client_id)
    # A partner (couples.Partner) acts through a link, not a login.
    if type(actor).__name__ == "Partner" and type(actor)._meta.app_label == "couples":
        return AuditEvent.ActorKind.PARTNER, str(actor.pk)
    return AuditEvent.ActorKind.USER, str(getattr(actor, "pk", ""))


def audit_record(
    *,
    actor: object,
    action: str,
    target: models.Model,
    changes: Iterable[str] = (),
) -> AuditEvent:
    """Append one event. ``changes`` are field names only — never values, which may be PHI."""
    event = audit_event(actor=actor, action=action, target=target, changes=changes)
    event.save()
    return event


def audit_record_many(*, actor: object, action: str, targets: Iterable[models.Model]) -> list[AuditEvent]:
    """One event per target, appended in one statement: a page that shows many rows reads each."""
    return AuditEvent.objects.bulk_create(
        [audit_event(actor=actor, action=action, target=target) for target in targets]
    )


def audit_event(
    *,
    actor: object,
    action: str,
    target: models.Model,
    changes: Iterable[str] = (),
) -> AuditEvent:
    """The event ``audit_record`` would append, unsaved: for a service that writes it together
    with its target (``clinician.writes``). The target must have its primary key already."""
    if target.pk is None:
        raise ValueError("An audit event names a saved (or added) row.")
    kind, actor_id = _actor(actor)
    practice_id = getattr(target, "practice_id", None)
    if practice_id is None and target._meta.label == "clinician.Practice":
        practice_id = target.pk
    return AuditEvent(
        practice_id=practice_id,
        actor_kind=kind,
        actor_id=actor_id,
        action=action,
        target_type=record_label(type(target)).lower(),
        target_id=str(target.pk),
        changes=sorted(set(changes)),
    )
