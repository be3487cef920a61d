"""The audit pages (/clinic/practice/audit/…): only the practice admin opens them; filters from the
query string, refused beside their field with a 400 and nothing run; the CSV; a partner's access
report holds their own rows and their couple's shared rows — nobody else's."""

import csv
import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from clinician.audit import audit_record
from clinician.models import AuditEvent
from tests.factories import build_practice_world

pytestmark = pytest.mark.django_db

AUDIT = reverse("cyclecare:clinician:audit")
AUDIT_CSV = reverse("cyclecare:clinician:audit_csv")


def access_url(partner) -> str:
    return reverse("cyclecare:clinician:audit_partner", args=[partner.pk])


@pytest.fixture
def world():
    return build_practice_world("alpha")


@pytest.fixture
def other():
    return build_practice_world("bravo")


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.admin.user)
    return client


def test_only_the_practice_admin_opens_the_audit_pages(client, world):
    partner = world.couples[0].a
    for member in (world.clinician, world.supervisor):
        client.force_login(member.user)
        assert client.get(AUDIT).status_code == 404
        assert client.get(AUDIT_CSV).status_code == 404
        assert client.get(access_url(partner)).status_code == 404
    client.logout()
    assert client.get(AUDIT).status_code == 302  # to sign in


def test_the_practice_page_links_to_the_trail(admin_client):
    assert AUDIT in admin_client.get(reverse("cyclecare:clinician:practice")).content.decode()


def test_search_finds_the_practice_events_by_partner_couple_clinician_action_and_record(
    admin_client, world, other
):
    couple = world.couples[0]
    admin_client.force_login(world.clinician.user)
    admin_client.get(reverse("cyclecare:clinician:couple", args=[couple.couple.pk]))
    admin_client.force_login(world.admin.user)

    page = admin_client.get(AUDIT)
    assert page.status_code == 200
    events = {row["id"] for row in page.context["rows"]}
    practice_events = set(AuditEvent.objects.filter(practice=world.practice).values_list("pk", flat=True))
    assert events and events <= practice_events
    assert not events & set(AuditEvent.objects.filter(practice=other.practice).values_list("pk", flat=True))

    by_partner = admin_client.get(AUDIT, {"partner": couple.a.pk}).context["rows"]
    assert by_partner and {row["partner"] for row in by_partner} == {couple.a.pk}
    by_couple = admin_client.get(AUDIT, {"couple": couple.couple.pk}).context["rows"]
    assert by_couple and {row["couple"] for row in by_couple} == {couple.couple.pk}
    by_clinician = admin_client.get(AUDIT, {"clinician": world.clinician.pk}).context["rows"]
    assert by_clinician and {row["who"] for row in by_clinician} == {world.clinician.display_name}
    views = admin_client.get(AUDIT, {"action": "couple.read", "surface": "page"}).context["rows"]
    assert views and all(row["action"] == "couple.read" and row["surface"] == "page" for row in views)
    assert views[0]["source"] == "127.0.0.1"
    record = admin_client.get(AUDIT, {"object_type": "couples.couple", "object_id": couple.couple.pk})
    assert {(r["object_type"], r["object_id"]) for r in record.context["rows"]} == {
        ("couples.couple", str(couple.couple.pk))
    }


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "2026-02-30"}, "from"),
        ({"from": "2026-05-01", "to": "2026-04-01"}, "from"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "from"),
        ({"partner": "abc"}, "partner"),
        ({"couple": "99999999"}, "couple"),
        ({"surface": "carrier-pigeon"}, "surface"),
        ({"action": "<script>"}, "action"),
    ],
)
def test_a_bad_filter_is_refused_beside_its_field_with_nothing_run(admin_client, params, field):
    response = admin_client.get(AUDIT, params)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert "rows" not in response.context
    assert admin_client.get(AUDIT_CSV, params).status_code == 400


def test_another_practices_partner_is_unknown(admin_client, other):
    stranger = other.couples[0].a
    response = admin_client.get(AUDIT, {"partner": stranger.pk})
    assert response.status_code == 400 and "partner" in response.context["form"].errors
    assert admin_client.get(access_url(stranger)).status_code == 404


def test_the_csv_streams_the_filtered_events_and_is_itself_audited(admin_client, world):
    partner = world.couples[0].a
    response = admin_client.get(AUDIT_CSV, {"partner": partner.pk})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["When", "Who", "Actor kind"]
    assert rows[1:] and {row[8] for row in rows[1:]} == {str(partner.pk)}
    exported = AuditEvent.objects.filter(action="audit.export").get()
    assert exported.surface == AuditEvent.Surface.EXPORT and exported.actor_id == str(world.admin.user.pk)


def test_an_access_report_holds_the_partners_rows_and_the_couples_shared_rows_only(admin_client, world):
    couple = world.couples[0]
    other_partner = couple.b
    audit_record(actor=world.clinician.user, action="test.mine", target=couple.a)
    audit_record(actor=world.clinician.user, action="test.theirs", target=other_partner)
    audit_record(actor=world.clinician.user, action="test.shared", target=couple.couple)
    audit_record(actor=world.clinician.user, action="test.elsewhere", target=world.couples[1].couple)

    response = admin_client.get(access_url(couple.a))
    assert response.status_code == 200
    actions = {row["action"] for row in response.context["rows"]}
    assert {"test.mine", "test.shared"} <= actions
    assert not {"test.theirs", "test.elsewhere"} & actions
    # Looking is recorded too, on the partner.
    looked = AuditEvent.objects.filter(action="partner.access_report").get()
    assert looked.partner_id == couple.a.pk and looked.couple_id == couple.couple.pk

    as_csv = admin_client.get(access_url(couple.a), {"format": "csv"})
    body = b"".join(as_csv.streaming_content).decode()
    assert "test.mine" in body and "test.theirs" not in body


def test_an_access_report_period_is_the_practices_calendar(admin_client, world):
    partner = world.couples[0].a
    today = timezone.now().date()
    long_ago = (today - datetime.timedelta(days=400)).isoformat()
    response = admin_client.get(access_url(partner), {"from": long_ago, "to": today.isoformat()})
    assert response.status_code == 400 and "from" in response.context["form"].errors


def test_behind_a_trusted_proxy_the_event_has_the_clients_address(client, world, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    client.force_login(world.clinician.user)
    couple = world.couples[0].couple
    client.get(
        reverse("cyclecare:clinician:couple", args=[couple.pk]),
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.23",
    )
    event = AuditEvent.objects.filter(action="couple.read", couple_id=couple.pk).latest("occurred_at")
    assert event.source == "198.51.100.23"
