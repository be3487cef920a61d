"""Searching the audit trail, and a partner's access report.

Who may search: the practice admin (pages) and an integration client whose token has
``audit:read`` (API) — over their own practice's events only. Every surface (the page, its CSV,
the API) parses its filters with ``parse_audit_filters`` and reads through ``audit_events`` /
``partner_access_events``; ``audit_rows`` turns events into what a person reads (names for the
ids the trail keeps).

A partner's record is every row that is theirs (``AuditEvent.partner_id``) and the couple's
shared rows (joint sessions and their notes, cycle maps, the couple itself: events with the
couple's id and no partner), of the couple they are in and of the couple an individual case
continues.
"""

import datetime
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from clinician.models import AuditEvent, Clinician, IntegrationClient, Practice
from clinician.permissions import is_integration, practice_admin_or_404, practice_id_of
from couples.models import Couple, Partner

from .reports.common import day_start
from .reports.filters import FilterError, date_param

DEFAULT_DAYS = 30
# A longer search is a job for an export; a year keeps every query on the practice's index.
MAX_DAYS = 366
TEXT = re.compile(r"[a-z0-9_.:-]{1,64}")
SURFACES = dict(AuditEvent.Surface.choices)


class AuditFilterError(FilterError):
    """An audit search that cannot run: ``errors`` maps each bad query parameter to what is
    wrong with it (the reports' FilterError, raised by parse_audit_filters)."""


@dataclass(frozen=True)
class AuditFilters:
    date_from: datetime.date
    date_to: datetime.date
    partner: int | None = None
    couple: int | None = None
    clinician: int | None = None
    action: str = ""  # an action or its beginning: "note." finds every note event
    target_type: str = ""  # e.g. "clinician.sessionnote"
    target_id: str = ""
    surface: str = ""
    record_of: int | None = None  # a partner: their whole record (partner_access_events)

    def params(self) -> dict[str, str]:
        values = {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "partner": self.partner,
            "couple": self.couple,
            "clinician": self.clinician,
            "action": self.action,
            "object_type": self.target_type,
            "object_id": self.target_id,
            "surface": self.surface,
            "record_of": self.record_of,
        }
        return {name: str(value) for name, value in values.items() if value not in (None, "")}

    def query_string(self) -> str:
        return urlencode(self.params())


# WHO MAY SEARCH
# ------------------------------------------------------------------------------
def audit_practice(user) -> Practice:
    """The practice whose trail the caller may search: a practice admin's, or an integration
    client's (its scope is checked by the API). Anyone else: 404."""
    if is_integration(user):
        return Practice.objects.get(pk=practice_id_of(user))
    return practice_admin_or_404(user).practice


def _zone(practice: Practice) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(practice.time_zone or "UTC")


# FILTERS
# ------------------------------------------------------------------------------
def _id(params: Mapping[str, str], name: str, errors: dict[str, str]) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        errors[name] = "Enter an id (a whole number)."
        return None
    return int(raw)


def parse_audit_filters(params: Mapping[str, str], *, user) -> AuditFilters:
    """Filters from a query string; the last 30 days of the practice's calendar by default.
    Raises AuditFilterError naming each bad parameter: a bad or reversed date, more than a
    year, a partner, couple or clinician that is not the practice's (unknown and another
    practice's read the same), an action, object or surface that cannot be one."""
    practice = audit_practice(user)
    errors: dict[str, str] = {}
    asked_from, asked_to = date_param(params, "from", errors), date_param(params, "to", errors)
    date_to = asked_to or datetime.datetime.now(_zone(practice)).date()
    date_from = asked_from or date_to - datetime.timedelta(days=DEFAULT_DAYS - 1)
    if "from" not in errors and "to" not in errors:
        if date_from > date_to:
            errors["from"] = "The first day comes after the last day."
        elif (date_to - date_from).days + 1 > MAX_DAYS:
            errors["from"] = "Search at most a year at a time (or export the trail)."

    partner, couple, clinician, record_of = (
        _id(params, name, errors) for name in ("partner", "couple", "clinician", "record_of")
    )
    for name, value in (("partner", partner), ("record_of", record_of)):
        if value is not None and not Partner.objects.filter(pk=value, practice=practice).exists():
            errors[name] = "No such partner in this practice."
    if couple is not None and not Couple.objects.filter(pk=couple, practice=practice).exists():
        errors["couple"] = "No such couple in this practice."
    if clinician is not None and not Clinician.objects.filter(pk=clinician, practice=practice).exists():
        errors["clinician"] = "No such clinician in this practice."

    texts = {}
    for name in ("action", "object_type", "object_id"):
        raw = (params.get(name) or "").strip().lower()
        if raw and not TEXT.fullmatch(raw):
            errors[name] = "Use at most 64 letters, digits and . _ : -"
        texts[name] = raw
    surface = (params.get("surface") or "").strip()
    if surface and surface not in SURFACES:
        errors["surface"] = f"Choose one of: {', '.join(SURFACES)}."
    if errors:
        raise AuditFilterError(errors)
    return AuditFilters(
        date_from=date_from,
        date_to=date_to,
        partner=partner,
        couple=couple,
        clinician=clinician,
        action=texts["action"],
        target_type=texts["object_type"],
        target_id=texts["object_id"],
        surface=surface,
        record_of=record_of,
    )


# READS
# ------------------------------------------------------------------------------
def _period(practice: Practice, filters: AuditFilters) -> Q:
    zone = _zone(practice)
    end = day_start(filters.date_to + datetime.timedelta(days=1), zone)
    return Q(occurred_at__gte=day_start(filters.date_from, zone), occurred_at__lt=end)


def audit_events(*, user, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The practice's events matching the filters, newest first."""
    practice = audit_practice(user)
    events = AuditEvent.objects.filter(_period(practice, filters), practice=practice)
    if filters.record_of is not None:
        events = events.filter(_record_of(Partner.objects.select_related("couple").get(pk=filters.record_of)))
    if filters.partner is not None:
        events = events.filter(partner_id=filters.partner)
    if filters.couple is not None:
        events = events.filter(couple_id=filters.couple)
    if filters.clinician is not None:
        user_id = Clinician.objects.filter(pk=filters.clinician).values_list("user_id", flat=True).get()
        events = events.filter(actor_kind=AuditEvent.ActorKind.USER, actor_id=str(user_id))
    if filters.action:
        events = events.filter(action__startswith=filters.action)
    if filters.target_type:
        events = events.filter(target_type=filters.target_type)
    if filters.target_id:
        events = events.filter(target_id=filters.target_id)
    if filters.surface:
        events = events.filter(surface=filters.surface)
    return events.order_by("-occurred_at", "-id")


def access_partner(*, user, partner_id: int) -> Partner:
    """The partner whose access report the caller asked for: one of their practice's, or 404."""
    practice = audit_practice(user)
    return get_object_or_404(Partner.objects.select_related("couple"), pk=partner_id, practice=practice)


def partner_access_events(*, user, partner: Partner, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Every view and change of the partner's record in the period: their own rows, and the
    shared rows of their couple (and of the couple an individual case continues)."""
    return audit_events(user=user, filters=replace(filters, record_of=partner.pk))


def _record_of(partner: Partner) -> Q:
    couples = [partner.couple_id]
    if partner.couple.continued_from_id:
        couples.append(partner.couple.continued_from_id)
    return Q(partner_id=partner.pk) | Q(couple_id__in=couples, partner_id__isnull=True)


# WHAT A PERSON READS
# ------------------------------------------------------------------------------
def audit_rows(events: Iterable[AuditEvent], *, practice: Practice) -> Iterator[dict[str, Any]]:
    """Each event with names for its ids: who (a clinician's name, an integration's name, a
    partner's name, or the system), whose record, and the surface in words. Names are looked up
    once per batch of events, not once per row."""
    zone = _zone(practice)
    batch: list[AuditEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) == 500:
            yield from _rows(batch, zone)
            batch = []
    if batch:
        yield from _rows(batch, zone)


def _ids(events: list[AuditEvent], kind: str) -> set[int]:
    return {int(e.actor_id) for e in events if e.actor_kind == kind and e.actor_id.isdigit()}


def actor_names(events: list[AuditEvent]) -> tuple[dict[int, str], dict[int, str]]:
    """The names of the events' actors, one query each: clinicians by user id, integration
    clients by id (the audit page and a partner's own copy word them each their way)."""
    Kind = AuditEvent.ActorKind
    users = dict(
        Clinician.objects.filter(user_id__in=_ids(events, Kind.USER)).values_list("user_id", "display_name")
    )
    clients = dict(
        IntegrationClient.objects.filter(pk__in=_ids(events, Kind.INTEGRATION)).values_list("pk", "name")
    )
    return users, clients


def _rows(events: list[AuditEvent], zone: zoneinfo.ZoneInfo) -> Iterator[dict[str, Any]]:
    Kind = AuditEvent.ActorKind
    users, clients = actor_names(events)
    partner_ids = _ids(events, Kind.PARTNER) | {e.partner_id for e in events if e.partner_id}
    partners = dict(Partner.objects.filter(pk__in=partner_ids).values_list("pk", "display_name"))
    for event in events:
        actor_id = int(event.actor_id) if event.actor_id.isdigit() else None
        if event.actor_kind == Kind.USER:
            who = users.get(actor_id) or f"User #{event.actor_id}"
        elif event.actor_kind == Kind.INTEGRATION:
            who = f"Integration: {clients.get(actor_id) or '#' + event.actor_id}"
        elif event.actor_kind == Kind.PARTNER:
            who = f"Partner: {partners.get(actor_id) or '#' + event.actor_id}"
        else:
            who = "cyclecare (system)"
        yield {
            "id": event.pk,
            "occurred_at": event.occurred_at.astimezone(zone),
            "actor_kind": event.actor_kind,
            "actor_id": event.actor_id,
            "who": who,
            "action": event.action,
            "object_type": event.target_type,
            "object_id": event.target_id,
            "couple": event.couple_id,
            "partner": event.partner_id,
            "partner_name": partners.get(event.partner_id, "") if event.partner_id else "",
            "surface": event.surface,
            "surface_label": SURFACES.get(event.surface, "—"),
            "source": event.source or "",
            "changes": list(event.changes or []),
        }
