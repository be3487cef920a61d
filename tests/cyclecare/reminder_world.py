"""Shared set-up for the reminder tests: a couple whose partners live in chosen zones, with
recorded consents, and helpers to plan and to tick the dispatcher the way beat does."""

import datetime
import zoneinfo
from types import SimpleNamespace

import time_machine

from couples.models import Consent, Partner
from couples.services import consent_record
from cyclecare import services, tasks
from cyclecare.models import Assignment
from cyclecare.reminders import planner
from tests.factories import couple_with_partners, shipped_instruments

UTC = datetime.UTC


def at(zone: str, *args: int) -> datetime.datetime:
    """An aware local time: at("America/New_York", 2026, 3, 2, 20)."""
    return datetime.datetime(*args, tzinfo=zoneinfo.ZoneInfo(zone))


def travel(moment: datetime.datetime):
    return time_machine.travel(moment, tick=False)


def world(
    *,
    zone_a: str = "America/New_York",
    zone_b: str = "Europe/London",
    channel_a: str = "email",
    channel_b: str = "email",
    consents: tuple[str, ...] = ("email", "sms"),
) -> SimpleNamespace:
    couple, a, b = couple_with_partners()
    Partner.objects.filter(pk=a.pk).update(
        display_name="Alex Rivera", time_zone=zone_a, phone="+15555550101", preferred_channel=channel_a
    )
    Partner.objects.filter(pk=b.pk).update(
        display_name="Sam Chen", time_zone=zone_b, phone="+447700900123", preferred_channel=channel_b
    )
    a.refresh_from_db()
    b.refresh_from_db()
    user = couple.primary_clinician.user
    for partner in (a, b):
        for kind in consents:
            consent_record(
                actor=user, partner=partner, kind=kind, granted=True, method=Consent.Method.WRITTEN
            )
    instruments = shipped_instruments()
    return SimpleNamespace(couple=couple, a=a, b=b, user=user, instruments=instruments)


def assign(w: SimpleNamespace, **overrides) -> Assignment:
    """A daily 20:00 check-in for both partners from 2026-01-01, with overrides."""
    details = {
        "user": w.user,
        "couple": w.couple,
        "partners": [w.a, w.b],
        "kind": Assignment.Kind.CHECK_IN,
        "instrument": w.instruments["cycle-checkin"],
        "title": "Daily check-in",
        "schedule": Assignment.Schedule.DAILY,
        "local_time": datetime.time(20, 0),
        "starts_on": datetime.date(2026, 1, 1),
    }
    details.update(overrides)
    return services.assignment_create(**details)


def plan(moment: datetime.datetime) -> planner.PlanResult:
    with travel(moment):
        return planner.plan()


def tick(moment: datetime.datetime, capture) -> int:
    """One beat tick of the dispatcher at ``moment``; the sends it enqueues on commit run
    (eagerly, in-process) as they would in a worker."""
    with travel(moment), capture(execute=True):
        return tasks.reminders_dispatch()
