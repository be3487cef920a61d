"""Completeness of the audit trail: every surface that reads or writes a record, once each, and an
event for each — naming whose record it was, through which surface, from which address.

Surfaces: a clinician's page (a read and a write), the REST API (a read and a write by an
integration client), the FHIR export, the Django admin, an export (the audit trail's own CSV), a
partner's page (a check-in through a reminder link), a background task, and bulk
``QuerySet.update`` / ``delete`` on PHI models, which bypass the services. A new surface that
appends events without its surface, or a PHI model whose bulk writes go unrecorded, fails here.
"""

import datetime
import json

import pytest
from celery import shared_task
from django.apps import apps
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinician.audit import AuditedQuerySet, Surface, audit_context, audit_record
from clinician.fields import EncryptedText
from clinician.models import AuditEvent
from couples.models import Partner
from cyclecare import services
from cyclecare.models import CheckIn, CycleEpisode, ReportExport
from cyclecare.partner_access import partner_link_issue
from tests.factories import UserFactory, build_practice_world, daily_checkin, integration_client

pytestmark = pytest.mark.django_db


@shared_task(name="tests.audit_completeness.touch_partner")
def touch_partner(partner_id: int) -> None:
    """A task that reads a partner's row, as any task of cyclecare's would: through a service."""
    audit_record(actor=None, action="test.task_touch", target=Partner.objects.get(pk=partner_id))


ADDRESS = "203.0.113.7"  # every request below comes from here (REMOTE_ADDR)


def new_events(since: set[int]):
    # Not "pk > the last": on PostgreSQL keys are reserved in blocks per process (DECISIONS 67).
    return AuditEvent.objects.exclude(pk__in=since).order_by("occurred_at", "pk")


def last_id() -> set[int]:
    """The events so far (new_events gives those appended after)."""
    return set(AuditEvent.objects.values_list("pk", flat=True))


@pytest.fixture
def world():
    return build_practice_world("alpha")


def test_every_surface_leaves_an_event_with_its_surface_and_whose_record(world):
    couple = world.couples[0]
    web = Client(REMOTE_ADDR=ADDRESS)
    seen: dict[str, AuditEvent] = {}

    def expect(name: str, since: set[int], *, surface: str, **match) -> None:
        found = [e for e in new_events(since) if all(getattr(e, k) == v for k, v in match.items())]
        assert found, f"{name}: no event {match} among {[str(e) for e in new_events(since)]}"
        assert {e.surface for e in found} == {surface}, f"{name}: surface {[e.surface for e in found]}"
        seen[name] = found[0]

    # A clinician's page: a read, then a write.
    web.force_login(world.clinician.user)
    since = last_id()
    assert web.get(reverse("cyclecare:clinician:couple", args=[couple.couple.pk])).status_code == 200
    expect("page read", since, surface=Surface.PAGE, action="couple.read", couple_id=couple.couple.pk)
    since = last_id()
    settings_url = reverse("cyclecare:clinician:couple_settings", args=[couple.couple.pk])
    web.post(settings_url, {"action": "status", "status": "paused", "confirmed": "yes"})
    expect(
        "page write", since, surface=Surface.PAGE, target_type="couples.couple", couple_id=couple.couple.pk
    )
    web.post(settings_url, {"action": "status", "status": "active", "confirmed": "yes"})

    # The REST API, as an integration client: a read and a write.
    api = integration_client(world.practice, scopes="read write").api
    since = last_id()
    read = api.get(f"/api/v1/checkins/{couple.checkin.pk}/", REMOTE_ADDR=ADDRESS)
    assert read.status_code == 200
    expect(
        "api read", since, surface=Surface.API, action="checkin.read", partner_id=couple.checkin.partner_id
    )
    since = last_id()
    written = api.post(
        "/api/v1/checkins/",
        {
            "partner": couple.a.pk,
            "instrument": couple.checkin.instrument_id,
            "answers": couple.checkin.answers,
        },
        format="json",
        REMOTE_ADDR=ADDRESS,
    )
    assert written.status_code == 201, written.content
    expect("api write", since, surface=Surface.API, target_type="cyclecare.checkin", partner_id=couple.a.pk)

    # The FHIR export.
    since = last_id()
    assert api.get(f"/api/v1/couples/{couple.couple.pk}/fhir/", REMOTE_ADDR=ADDRESS).status_code == 200
    expect("fhir", since, surface=Surface.FHIR, action="couple.fhir_export", couple_id=couple.couple.pk)

    # The Django admin.
    operator = Client(REMOTE_ADDR=ADDRESS)
    operator.force_login(UserFactory(is_staff=True, is_superuser=True))
    since = last_id()
    assert operator.get(reverse("admin:couples_partner_change", args=[couple.a.pk])).status_code == 200
    expect("admin", since, surface=Surface.ADMIN, action="admin.view", partner_id=couple.a.pk)

    # An export: the trail's own CSV.
    web.force_login(world.admin.user)
    since = last_id()
    response = web.get(reverse("cyclecare:clinician:audit_csv"))
    b"".join(response.streaming_content)
    expect("export", since, surface=Surface.EXPORT, action="audit.export")
    since = last_id()
    report_csv = web.get(reverse("cyclecare:clinician:report_csv", args=["caseload"]))
    b"".join(report_csv.streaming_content)
    expect("report csv", since, surface=Surface.EXPORT, action="report.caseload.csv_download")
    assert web.post(reverse("cyclecare:clinician:report_export"), {}).status_code == 302
    export = ReportExport.objects.latest("pk")
    since = last_id()
    download = web.get(reverse("cyclecare:clinician:report_export_download", args=[export.pk, "checkins"]))
    assert download.status_code == 200
    b"".join(download.streaming_content)
    expect("check-in export", since, surface=Surface.EXPORT, action="report_export.download")

    # A partner's page: a check-in through a reminder link.
    assignment = daily_checkin(couple.couple, [couple.a, couple.b])
    occurrence, _ = services.occurrence_materialise(
        assignment=assignment,
        partner=couple.b,
        local_due_date=timezone.localdate(),
        local_due_time=datetime.time(20, 0),
    )
    _, token = partner_link_issue(partner=couple.b, purpose="check_in", occurrence=occurrence)
    instrument = assignment.instrument
    partner_browser = Client(REMOTE_ADDR=ADDRESS)
    since = last_id()
    submitted = partner_browser.post(
        reverse("cyclecare:partner:checkin", args=[token]),
        {
            "instrument": f"{instrument.pk}:{instrument.version}",
            "cycle_showed_up": "yes",
            "my_move": "toward",
            "connection": "7",
        },
    )
    assert submitted.status_code == 302, submitted.content[:300]
    expect(
        "partner page",
        since,
        surface=Surface.PARTNER_PAGE,
        target_type="cyclecare.checkin",
        partner_id=couple.b.pk,
    )

    # A background task.
    since = last_id()
    touch_partner.apply(args=[couple.a.pk])
    expect("task", since, surface=Surface.TASK, action="test.task_touch", partner_id=couple.a.pk)

    # Bulk writes on PHI models, outside any service.
    since = last_id()
    with audit_context(surface=Surface.COMMAND, actor=world.admin.user):
        CheckIn.objects.filter(partner=couple.a).update(shared_with_partner=True)
        CycleEpisode.objects.filter(pk=couple.episode.pk).delete()
    expect(
        "bulk update", since, surface=Surface.COMMAND, action="checkin.bulk_update", partner_id=couple.a.pk
    )
    expect("bulk delete", since, surface=Surface.COMMAND, action="cycleepisode.bulk_delete")
    assert json.loads(json.dumps(seen["bulk update"].changes)) == ["shared_with_partner"]

    # Every request-borne event says where it came from.
    for name, event in seen.items():
        if name not in ("task", "bulk update", "bulk delete"):
            assert event.source == ADDRESS, (name, event.source)
    assert len(seen) == 13


def test_every_model_holding_phi_records_its_bulk_writes():
    """A model with an encrypted field, or one of the couple's own records, has the audited
    queryset as its default manager — so a bulk update or delete cannot go unrecorded."""
    phi_models = [
        model
        for model in apps.get_models()
        if model._meta.app_label in ("couples", "cyclecare")
        and (
            any(isinstance(field, EncryptedText) for field in model._meta.concrete_fields)
            or model._meta.label
            in ("couples.Couple", "couples.Partner", "couples.Consent", "cyclecare.CheckIn")
        )
    ]
    # Outboxes and settings whose encrypted field is not a partner's record (a webhook secret,
    # a stored webhook response) are the practice's plumbing, not PHI of a couple.
    plumbing = {"cyclecare.WebhookEndpoint"}
    missing = [
        model._meta.label
        for model in phi_models
        if model._meta.label not in plumbing and not isinstance(model._default_manager.all(), AuditedQuerySet)
    ]
    assert phi_models and not missing, missing
