"""The caseload's figures: each partner's days since a check-in and 14-day adherence, rising
episodes (and why), whose couple it is for a supervisor, links to the couple page, and a fixed
query count with 40 couples and two years of history."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from cyclecare import services as cycle
from cyclecare import trends
from cyclecare.models import CycleEpisode
from tests.cyclecare.workspace.history import build_history
from tests.factories import (
    AssignmentFactory,
    ClinicianFactory,
    OccurrenceFactory,
    couple_with_partners,
    shipped_instrument,
)

pytestmark = pytest.mark.django_db

CASELOAD = reverse("cyclecare:clinician:caseload")


def rows(response) -> dict:
    return {couple.label: couple for couple in response.context["couples"]}


def episodes(couple, *days_ago):
    now = timezone.now()
    CycleEpisode.objects.bulk_create(
        CycleEpisode(
            practice_id=couple.practice_id,
            couple=couple,
            occurred_at=now - datetime.timedelta(days=d),
            source=CycleEpisode.Source.SESSION,
            recorded_by_clinician=couple.primary_clinician,
            intensity=5,
        )
        for d in days_ago
    )


def test_each_partner_has_days_since_checkin_and_adherence(client):
    clinician = ClinicianFactory()
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen")
    a.display_name = "Mei"
    a.save(update_fields=["display_name"])
    instrument = shipped_instrument()
    now = timezone.now()
    assignment = AssignmentFactory(
        couple=couple,
        kind="check_in",
        title="Daily",
        instrument=instrument,
        starts_on=(now - datetime.timedelta(days=30)).date(),
    )
    for days_ago, status in ((1, "completed"), (2, "missed"), (4, "completed"), (20, "completed")):
        due = now - datetime.timedelta(days=days_ago)
        OccurrenceFactory(
            assignment=assignment, partner=a, local_due_time=datetime.time(20), due_at=due, status=status
        )
    cycle.checkin_submit(
        partner=a,
        instrument=instrument,
        answers={"cycle_showed_up": True, "connection": 5},
        submitted_at=now - datetime.timedelta(days=4),
    )
    client.force_login(clinician.user)
    response = client.get(CASELOAD)
    row = rows(response)["Rivera & Chen"]
    activity = {p.display_name: p for p in row.partner_activity}
    assert activity["Mei"].days_since_checkin == 4
    assert activity["Mei"].adherence == trends.Adherence(due=3, completed=2)
    assert activity[b.display_name].last_checkin_at is None
    body = response.content.decode()
    assert "4 days ago" in body
    assert "2 of 3" in body
    assert "None yet" in body and "nothing due" in body
    assert f'href="{reverse("cyclecare:clinician:couple", args=[couple.pk])}"' in body


def test_rising_couples_are_highlighted_with_the_reason(client):
    clinician = ClinicianFactory()
    rising, *_ = couple_with_partners(clinician, label="Rising")
    steady, *_ = couple_with_partners(clinician, label="Steady")
    episodes(rising, 1, 3, 5, 9, 20)  # 4 in the last 14 days, 1 in the 14 before
    episodes(steady, 2, 16)
    client.force_login(clinician.user)
    response = client.get(CASELOAD)
    found = rows(response)
    assert found["Rising"].episodes_rising
    assert (found["Rising"].episodes_recent, found["Rising"].episodes_before) == (4, 1)
    assert not found["Steady"].episodes_rising
    body = response.content.decode()
    assert body.count('class="rising-badge"') == 1
    assert "4, was 1 in the 14 days before" in body
    assert "1 with episodes rising" in body
    assert "at least 2 more episodes in the last 14 days" in body


def test_a_supervisor_sees_whose_couple_each_is(client, tenants):
    alpha = tenants["a"]
    client.force_login(alpha.supervisor.user)
    response = client.get(CASELOAD)
    body = response.content.decode()
    assert '<th scope="col" role="columnheader">Clinician</th>' in body
    assert alpha.clinician.display_name in body and alpha.prelicensed.display_name in body
    assert all(couple.treated_by_other for couple in response.context["couples"])
    client.force_login(alpha.clinician.user)
    assert '<th scope="col" role="columnheader">Clinician</th>' not in client.get(CASELOAD).content.decode()


def test_forty_couples_and_two_years_of_history_in_a_fixed_number_of_queries(
    client, django_assert_max_num_queries
):
    clinician = ClinicianFactory()
    first, a, b = couple_with_partners(clinician, label="Couple 00")
    build_history(first, a, b, days=730)
    for n in range(1, 40):
        couple, *_ = couple_with_partners(clinician, label=f"Couple {n:02d}")
        if n % 5 == 0:
            episodes(couple, 1, 2, 3)
    client.force_login(clinician.user)
    client.get(CASELOAD)  # the session's last-seen stamp is written on the first request only
    with django_assert_max_num_queries(10):
        response = client.get(CASELOAD)
    found = rows(response)
    assert len(found) == 40
    history_row = response.context["couples"][0]  # its open flag puts it first
    assert history_row.label == "Couple 00"
    assert {p.pk for p in history_row.partner_activity} == {a.pk, b.pk}
    assert all(13 <= p.adherence.due <= 14 for p in history_row.partner_activity)
    assert sum(1 for c in found.values() if c.episodes_rising) >= 7
