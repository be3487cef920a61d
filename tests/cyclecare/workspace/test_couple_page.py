"""The couple page (/clinic/couples/<id>/): scope, the timeline, the charts and their text
alternatives, the links to every area, one audit event per view, and a fixed query count on two
years of history."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinician.models import AuditEvent
from couples import services as couple_services
from cyclecare import services as cycle
from cyclecare.models import SafetyFlag
from tests.cyclecare.workspace.history import build_history
from tests.factories import (
    TherapySessionFactory,
    UserFactory,
    couple_with_partners,
    held_session,
    shipped_instrument,
)

pytestmark = pytest.mark.django_db


def url(couple, **query) -> str:
    base = reverse("cyclecare:clinician:couple", args=[couple.pk])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.fixture
def couple(clinician):
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen", names=("Mei", "Sam"))
    return couple, a, b


def csi(partner, instrument, total, days_ago):
    answers, left = {}, total
    for code, high in (("csi1", 6), ("csi12", 5), ("csi19", 5), ("csi22", 5)):
        answers[code] = min(high, left)
        left -= answers[code]
    return cycle.checkin_submit(
        partner=partner,
        instrument=instrument,
        answers=answers,
        submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
    )


# SCOPE
# ------------------------------------------------------------------------------
def test_out_of_scope_couples_are_404(client, tenants):
    alpha, bravo = tenants["a"], tenants["b"]
    mine, supervisee_case = alpha.couples[0].couple, alpha.couples[1].couple
    client.force_login(alpha.clinician.user)
    assert client.get(url(mine)).status_code == 200
    assert client.get(url(supervisee_case)).status_code == 404  # a colleague's couple
    assert client.get(url(bravo.couples[0].couple)).status_code == 404  # another practice
    assert client.get("/clinic/couples/999999/").status_code == 404
    client.force_login(alpha.supervisor.user)
    assert client.get(url(supervisee_case)).status_code == 200
    client.force_login(alpha.admin.user)  # administrative scope is not clinical scope
    assert client.get(url(mine)).status_code == 404
    client.force_login(alpha.outsider.user)
    assert client.get(url(mine)).status_code == 404


def test_anonymous_and_non_clinicians_see_nothing(client, couple):
    couple, *_ = couple
    response = client.get(url(couple))
    assert response.status_code == 302
    client.force_login(UserFactory())
    response = client.get(url(couple))
    assert response.status_code == 403
    assert "Rivera" not in response.content.decode()


def test_a_supervisor_sees_who_treats_the_couple(client, tenants):
    alpha = tenants["a"]
    client.force_login(alpha.supervisor.user)
    body = client.get(url(alpha.couples[0].couple)).content.decode()
    assert f"Treated by {alpha.clinician.display_name}" in body


# TIMELINE
# ------------------------------------------------------------------------------
def test_timeline_merges_sessions_notes_episodes_checkins_and_flags(client, clinician, couple):
    couple, a, b = couple
    user = clinician.user
    written = held_session(couple, days_ago=10)
    note = couple_services.note_create(
        user=user, session=written, data="BODY-TEXT-NEVER-SHOWN", assessment="a", plan="p"
    )
    couple_services.note_sign(user=user, note=note)
    unwritten = held_session(couple, days_ago=3)
    cycle.episode_record(
        actor=user,
        couple=couple,
        occurred_at=timezone.now() - datetime.timedelta(days=3),
        intensity=6,
        pursuer=a,
        withdrawer=b,
    )
    cycle.episode_record(
        actor=b,
        couple=couple,
        occurred_at=timezone.now() - datetime.timedelta(days=2),
        intensity=4,
        pursuer=a,
        withdrawer=b,
    )
    instrument = shipped_instrument()
    cycle.checkin_submit(
        partner=a,
        instrument=instrument,
        answers={"cycle_showed_up": True, "connection": 3, "felt_unsafe": True},
        submitted_at=timezone.now() - datetime.timedelta(days=1),
    )
    upcoming = TherapySessionFactory(couple=couple, starts_at=timezone.now() + datetime.timedelta(days=4))
    client.force_login(user)
    response = client.get(url(couple))
    assert response.status_code == 200
    body = response.content.decode()
    timeline = body[body.index('id="timeline-heading"') :]
    # Newest first: the flag (raised with the check-in), the check-in, the episodes, the sessions.
    order = [
        timeline.index("Safety flag"),
        timeline.index("Daily cycle check-in · Mei"),
        timeline.index("reported by Sam"),
        timeline.index("clinician-observed, in session"),
        timeline.index(f'href="{reverse("cyclecare:clinician:note_edit", args=[unwritten.pk])}"'),
        timeline.index(f'href="{reverse("cyclecare:clinician:note", args=[note.pk])}"'),
    ]
    assert order == sorted(order)
    assert "DAP · signed" in timeline
    assert "Write the note" in timeline
    assert "BODY-TEXT-NEVER-SHOWN" not in body
    assert "felt_unsafe" not in body
    # The scheduled session is the next session and is listed apart from the past.
    assert f'href="{reverse("cyclecare:clinician:session", args=[upcoming.pk])}"' in body
    assert response.context["next_session"]["entry"].item_id == upcoming.pk


def test_timeline_is_windowed_with_an_earlier_link(client, clinician, couple):
    couple, a, b = couple
    recent = held_session(couple, days_ago=2)
    old = held_session(couple, days_ago=45)
    client.force_login(clinician.user)
    response = client.get(url(couple))
    ids = [item["entry"].item_id for item in response.context["timeline"]]
    assert recent.pk in ids and old.pk not in ids
    earlier = re.search(r'href="\?before=(\d{4}-\d\d-\d\d)" rel="prev"', response.content.decode()).group(1)
    response = client.get(url(couple, before=earlier))
    ids = [item["entry"].item_id for item in response.context["timeline"]]
    assert old.pk in ids and recent.pk not in ids
    # "Later" from the page after the latest goes back to the latest (no parameter).
    later = re.search(r'href="([^"]*)" rel="next"', response.content.decode()).group(1)
    assert later == url(couple)
    response = client.get(url(couple, before=response.context["window"]["earlier"]))
    assert [item["entry"].item_id for item in response.context["timeline"]] == []
    assert "Nothing recorded in these weeks." in response.content.decode()


def test_a_bad_before_date_says_so_and_shows_the_latest_weeks(client, clinician, couple):
    couple, *_ = couple
    recent = held_session(couple, days_ago=2)
    client.force_login(clinician.user)
    response = client.get(url(couple, before="yesterday"))
    assert response.status_code == 200
    assert "is not a date" in response.content.decode()
    assert recent.pk in [item["entry"].item_id for item in response.context["timeline"]]


# LINKS, CHARTS, OUTCOME
# ------------------------------------------------------------------------------
def test_links_to_every_area_of_the_couple(client, clinician, couple):
    couple, *_ = couple
    client.force_login(clinician.user)
    body = client.get(url(couple)).content.decode()
    for name in ("sessions", "cycle_map", "episode_new", "homework", "deliveries", "separation"):
        assert f'href="{reverse(f"cyclecare:clinician:{name}", args=[couple.pk])}"' in body, name
    assert f'href="{reverse("cyclecare:clinician:caseload")}"' in body


def test_charts_are_inline_svg_with_text_alternatives(client, clinician, couple):
    couple, a, b = couple
    cycle.episode_record(
        actor=clinician.user, couple=couple, occurred_at=timezone.now(), intensity=6, pursuer=a, withdrawer=b
    )
    client.force_login(clinician.user)
    body = client.get(url(couple)).content.decode()
    for title in (
        "Episodes per week",
        "Mean intensity",
        "Repair success rate",
        "Minutes to repair",
        "Check-in adherence",
    ):
        assert f">{title}</title>" in body, title
        assert f"Data table: {title}" in body
    assert body.count('role="img"') == 5
    assert "<script" not in body.split("</main>")[0].split("<main")[1]
    assert ' style="' not in body
    assert "No CSI scores yet" in body
    assert "Cycle metrics" in body and "Role rigidity: Mei" in body


def test_dyadic_outcome_chart_with_cutoff_band_and_divergence_alert(client, clinician, couple):
    couple, a, b = couple
    shipped = shipped_instrument("csi-4")
    licensed = cycle.instrument_create(
        practice=clinician.practice,
        code="csi-4",
        version=2,
        name="CSI-4 with reliable change",
        definition={**shipped.definition, "reliable_change": {"threshold": 4.5}},
    )
    csi(a, licensed, 9, 50)
    csi(a, licensed, 17, 1)
    csi(b, licensed, 10, 50)
    csi(b, licensed, 10, 1)
    client.force_login(clinician.user)
    body = client.get(url(couple)).content.decode()
    assert "Dyadic outcome: CSI-4 with reliable change</title>" in body
    assert 'class="rule cutoff"' in body and "cutoff 13.5 (distressed)" in body
    assert body.count('class="band band-') == 2
    assert "Partners diverge." in body
    assert "Mei 17, Sam 10 — 7 points apart" in body
    assert "recovered" in body


def test_without_a_reliable_change_threshold_the_chart_says_so(client, clinician, couple):
    couple, a, b = couple
    shipped = shipped_instrument("csi-4")
    csi(a, shipped, 5, 20)
    csi(b, shipped, 19, 2)
    client.force_login(clinician.user)
    body = client.get(url(couple)).content.decode()
    assert "cutoff 13.5 (distressed)" in body
    assert 'class="band' not in body
    assert "Partners diverge." not in body
    # Version 3 takes its SD from the practice's intake baseline, which two partners do not make.
    assert "CSI-4: no reliable change yet" in body
    assert "once 20 partners have a first score (2 so far)" in body


# AUDIT AND COST
# ------------------------------------------------------------------------------
def test_one_page_level_read_event_not_one_per_checkin(client, clinician, couple):
    couple, a, b = couple
    instrument = shipped_instrument()
    for days_ago in range(5):
        cycle.checkin_submit(
            partner=a,
            instrument=instrument,
            answers={"cycle_showed_up": False, "connection": 6},
            submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
        )
    cycle.safety_flag_raise(partner=b, source=SafetyFlag.Source.CLINICIAN)
    client.force_login(clinician.user)
    before = AuditEvent.objects.count()
    client.get(url(couple))
    events = list(AuditEvent.objects.order_by("-id")[: AuditEvent.objects.count() - before])
    assert [(e.action, e.target_type, e.target_id, e.actor_id) for e in events] == [
        ("couple.read", "couples.couple", str(couple.pk), str(clinician.user.pk))
    ]


def test_query_count_is_fixed_on_two_years_of_history(
    client, clinician, couple, django_assert_max_num_queries
):
    couple, a, b = couple
    small, *_ = couple_with_partners(clinician, label="New couple")
    held_session(small)
    client.force_login(clinician.user)
    client.get(url(small))  # the session's last-seen stamp is written on the first request only
    with CaptureQueriesContext(connection) as small_queries:
        assert client.get(url(small)).status_code == 200

    history = build_history(couple, a, b, days=730)
    assert history.checkins > 1000
    with django_assert_max_num_queries(10):
        response = client.get(url(couple))
    assert response.status_code == 200
    with CaptureQueriesContext(connection) as large_queries:
        client.get(url(couple))
    assert len(large_queries) == len(small_queries)
    context = response.context
    assert len(context["charts"]) == 5
    assert context["outcome"].code == "csi-4"
    assert len(context["outcome"].series[a.pk]) == 104
    assert any(item["entry"].kind == "checkin" for item in context["timeline"])
    assert "Write the note" in response.content.decode()
