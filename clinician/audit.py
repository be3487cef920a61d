"""The audit trail: who wrote or read what, by id. Services call audit_record().

Each event also says whose record it was (``couple_id``, ``partner_id``: ``audit_subject``),
through which surface it came and from which address. The surface and address come from the
*audit context*: ``AuditContextMiddleware`` opens one per request (a page, the API, FHIR, the
Django admin, a partner's page), an export or a task opens its own with ``audit_context(...)``.
It is a context variable, set and reset around one request or job — nothing outlives it.

Bulk writes bypass the services, so PHI models use ``AuditedQuerySet``: a ``QuerySet.update``
or ``delete`` appends one event per row it touched, by whoever the context names.
"""

import contextvars
import ipaddress
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from django.db import connections, models, transaction

from .models import AuditEvent
from .principals import PracticePrincipal

Surface = AuditEvent.Surface


@dataclass(frozen=True)
class AuditContext:
    surface: str = ""
    source: str | None = None
    # Who acts in a bulk write, which has no actor argument (services pass theirs): given, or
    # the request's user as authentication left it (the API authenticates inside the view).
    actor: object = None
    request: Any = None

    @property
    def acting(self) -> object:
        if self.actor is not None:
            return self.actor
        user = getattr(self.request, "user", None)
        return user if user is not None and user.is_authenticated else None


_context: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("audit_context", default=None)


@contextmanager
def audit_context(*, surface: str, source: str | None = None, actor: object = None) -> Iterator[AuditContext]:
    """Events appended inside the block say they came through ``surface`` (an
    AuditEvent.Surface) from ``source``; an enclosing context's address and actor carry over
    where these are not given (an export started from a page keeps the page's address)."""
    outer = _context.get()
    context = AuditContext(
        surface=surface,
        source=source if source is not None else (outer.source if outer else None),
        actor=actor if actor is not None else (outer.actor if outer else None),
        request=outer.request if outer else None,
    )
    token = _context.set(context)
    try:
        yield context
    finally:
        _context.reset(token)


@contextmanager
def request_audit_context(request: Any, *, source: str | None) -> Iterator[AuditContext]:
    """The context of one web request: a clinician page until the view is known
    (``set_request_surface``), from the client's address ``source``."""
    token = _context.set(AuditContext(surface=Surface.PAGE, source=_address(source), request=request))
    try:
        yield _context.get()
    finally:
        _context.reset(token)


def task_started(task: Any = None, **_: Any) -> None:
    """Celery's task_prerun: the events a task appends say they came from a background task."""
    if task is not None:
        task.request.audit_context_token = _context.set(AuditContext(surface=Surface.TASK))


def task_finished(task: Any = None, **_: Any) -> None:
    """Celery's task_postrun: the task's context ends with it."""
    token = getattr(task.request, "audit_context_token", None) if task is not None else None
    if token is not None:
        _context.reset(token)
        task.request.audit_context_token = None


def set_request_surface(surface: str) -> None:
    """Name the surface of the request being served, once its view is known."""
    context = _context.get()
    if context is not None and context.request is not None:
        _context.set(replace(context, surface=surface))


def _address(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def current_context() -> AuditContext | None:
    return _context.get()


def audit_subject(target: models.Model) -> tuple[int | None, int | None]:
    """(couple id, partner id) of the record ``target`` belongs to. A model that reaches its
    couple or partner through another row says so with an ``audit_subject()`` method."""
    own = getattr(target, "audit_subject", None)
    if callable(own):
        return own()
    label = target._meta.label
    if label == "couples.Couple":
        return target.pk, None
    if label == "couples.Partner":
        return getattr(target, "couple_id", None), target.pk
    return getattr(target, "couple_id", None), getattr(target, "partner_id", None)


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
    couple_id, partner_id = audit_subject(target)
    context = _context.get()
    return AuditEvent(
        practice_id=practice_id,
        actor_kind=kind,
        actor_id=actor_id,
        action=action,
        target_type=record_label(type(target)).lower(),
        target_id=str(target.pk),
        changes=sorted(set(changes)),
        couple_id=couple_id,
        partner_id=partner_id,
        surface=context.surface if context else "",
        source=context.source if context else None,
    )


# BULK WRITES
# ------------------------------------------------------------------------------
class AuditedQuerySet(models.QuerySet):
    """For models holding PHI: ``update()`` and ``delete()`` append one event per row they
    touch (``<model>.bulk_update`` with the changed field names, ``<model>.bulk_delete``), in
    the same transaction, by the actor of the audit context (the system outside a request)."""

    _bulk_audit = True

    def audited_by_caller(self) -> "AuditedQuerySet":
        """For a service that appends its own events for the rows it writes in bulk (with the
        action that says what happened): no second, generic event per row."""
        clone = self._chain()
        clone._bulk_audit = False
        return clone

    def _clone(self):
        clone = super()._clone()
        clone._bulk_audit = self._bulk_audit
        return clone

    def update(self, **kwargs: Any) -> int:
        if not self._bulk_audit:
            return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            targets = list(self._audit_targets(lock=True))
            count = super().update(**kwargs)
            self._audit(targets, "bulk_update", changes=kwargs)
        return count

    def delete(self) -> tuple[int, dict[str, int]]:
        if not self._bulk_audit:
            return super().delete()
        with transaction.atomic(using=self.db):
            targets = list(self._audit_targets(lock=True))
            deleted = super().delete()
            self._audit(targets, "bulk_delete")
        return deleted

    def _audit_targets(self, *, lock: bool) -> Iterator[models.Model]:
        """The rows about to change (locked where the database can): whole rows where the model
        finds its subject through another row (``audit_subject()``), else only the ids an event
        needs."""
        rows = self.order_by()
        if lock and connections[self.db].features.has_select_for_update:
            rows = rows.select_for_update()
        if callable(getattr(self.model, "audit_subject", None)):
            yield from rows
            return
        subject = [name for name in ("practice_id", "couple_id", "partner_id") if _has(self.model, name)]
        names = ["pk", *subject]
        for values in rows.values_list(*names):
            yield self.model(**dict(zip(names, values, strict=True)))

    def _audit(self, targets: list[models.Model], verb: str, changes: dict | None = None) -> None:
        if not targets:
            return
        context = _context.get()
        actor = context.acting if context else None
        action = f"{self.model._meta.model_name}.{verb}"
        AuditEvent.objects.bulk_create(
            [
                audit_event(actor=actor, action=action, target=target, changes=changes or ())
                for target in targets
            ]
        )


def _has(model: type[models.Model], attname: str) -> bool:
    return any(field.attname == attname for field in model._meta.concrete_fields)
