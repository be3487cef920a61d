"""The clinician's caseload page (/clinic/): sign-in, who may see it, what it lists and in
which order, and that a new safety flag is on the very next load."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cyclecare import services as cycle
from cyclecare.models import SafetyFlag
from tests.factories import (
    ClinicianFactory,
    PracticeFactory,
    TherapySessionFactory,
    UserFactory,
    couple_with_partners,
    shipped_instrument,
)

pytestmark = pytest.mark.django_db

CASELOAD = reverse("cyclecare:clinician:caseload")
# Sign-in is allauth's (tests/clinician/test_login.py covers two-factor and lockout).
LOGIN = reverse("account_login")
LOGOUT = reverse("cyclecare:clinician:logout")
PASSWORD = "pw-for-tests-only"
BADGE = "Safety flag — review"


def flag(partner) -> SafetyFlag:
    return cycle.safety_flag_raise(partner=partner, source=SafetyFlag.Source.CLINICIAN)


def labels(response) -> list[str]:
    return [couple.label for couple in response.context["couples"]]


# SIGN-IN AND ACCESS
# ------------------------------------------------------------------------------
def test_login_form_signs_a_clinician_in_and_lands_on_the_caseload(client, clinician):
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert 'autocomplete="current-password"' in page.content.decode()
    response = client.post(LOGIN, {"login": clinician.user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == CASELOAD
    assert client.get(CASELOAD).status_code == 200


def test_login_error_does_not_say_whether_the_account_exists(client, clinician):
    wrong_password = client.post(LOGIN, {"login": clinician.user.username, "password": "nope"})
    no_such_user = client.post(LOGIN, {"login": "nobody@example.test", "password": "nope"})
    clinician.user.is_active = False
    clinician.user.save(update_fields=["is_active"])
    inactive = client.post(LOGIN, {"login": clinician.user.username, "password": PASSWORD})
    message = "That email or username and password do not match an active account."
    for response in (wrong_password, no_such_user, inactive):
        assert response.status_code == 200
        assert message in response.content.decode()
        assert "_auth_user_id" not in client.session


def test_anonymous_is_sent_to_the_login_page(client):
    """Without ``?next``: the caseload is the default landing, and each role lands home."""
    response = client.get(CASELOAD)
    assert response.status_code == 302
    assert response["Location"] == LOGIN


def test_a_signed_in_user_who_is_not_a_clinician_gets_403_with_no_data(client, clinician):
    couple, a, _ = couple_with_partners(clinician, label="Hidden & Couple")
    flag(a)
    client.force_login(UserFactory())
    response = client.get(CASELOAD)
    assert response.status_code == 403
    body = response.content.decode()
    assert "Hidden &amp; Couple" not in body
    assert BADGE not in body
    assert "couples" not in response.context


def test_an_inactive_clinician_gets_403(client, clinician):
    couple_with_partners(clinician, label="Hidden")
    clinician.is_active = False
    clinician.save(update_fields=["is_active"])
    client.force_login(clinician.user)
    response = client.get(CASELOAD)
    assert response.status_code == 403
    assert "Hidden" not in response.content.decode()


def test_logout_is_post_only_and_returns_to_the_login_page(client, clinician):
    client.force_login(clinician.user)
    assert client.get(LOGOUT).status_code == 405
    response = client.post(LOGOUT)
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert client.get(CASELOAD).status_code == 302


def test_the_page_is_never_cached(client, clinician):
    client.force_login(clinician.user)
    response = client.get(CASELOAD)
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


# WHAT IT LISTS
# ------------------------------------------------------------------------------
def test_flagged_couple_is_listed_first_with_its_badge_and_partner(client, clinician):
    couple_with_partners(clinician, label="Abbott & Ames")
    flagged, a, b = couple_with_partners(clinician, label="Zhou & Ziegler")
    a.display_name = "Mei"
    a.save(update_fields=["display_name"])
    flag(a)
    flag(a)
    couple_with_partners(clinician, label="Moreno & Li")
    client.force_login(clinician.user)
    response = client.get(CASELOAD)
    assert labels(response) == ["Zhou & Ziegler", "Abbott & Ames", "Moreno & Li"]
    body = response.content.decode()
    assert body.count(BADGE) == 1
    assert '<span class="flag-count">2</span>' in body
    assert "From Mei" in body
    assert body.index("Zhou &amp; Ziegler") < body.index("Abbott &amp; Ames")


def test_acknowledged_flags_still_lead_resolved_ones_do_not(client, clinician):
    user = clinician.user
    acknowledged, a, _ = couple_with_partners(clinician, label="Young")
    cycle.safety_flag_acknowledge(user=user, flag=flag(a))
    resolved, c, _ = couple_with_partners(clinician, label="Xavier")
    cycle.safety_flag_resolve(user=user, flag=flag(c), resolution_note="Safety plan agreed.")
    couple_with_partners(clinician, label="Baker")
    client.force_login(user)
    response = client.get(CASELOAD)
    assert labels(response) == ["Young", "Baker", "Xavier"]
    assert response.content.decode().count(BADGE) == 1


def test_columns_show_stage_status_last_checkin_and_next_session(client, clinician):
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen", eft_step=6)
    instrument = shipped_instrument()
    for partner, days_ago in ((a, 9), (b, 2)):
        cycle.checkin_submit(
            partner=partner,
            instrument=instrument,
            answers={"cycle_showed_up": True, "connection": 5},
            submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
        )
    soon = timezone.now() + datetime.timedelta(days=3)
    TherapySessionFactory(couple=couple, starts_at=soon)
    TherapySessionFactory(couple=couple, starts_at=soon + datetime.timedelta(days=7))
    TherapySessionFactory(couple=couple, starts_at=soon - datetime.timedelta(days=1), status="cancelled")
    couple_with_partners(clinician, label="Solo", eft_step=None)
    client.force_login(clinician.user)
    response = client.get(CASELOAD)
    rows = {couple.label: couple for couple in response.context["couples"]}
    row = rows["Rivera & Chen"]
    assert row.last_checkin_at.date() == (timezone.now() - datetime.timedelta(days=2)).date()
    assert row.next_session_at == soon
    body = response.content.decode()
    assert "Stage 2 · Step 6" in body
    assert "Active" in body
    assert "Not set" in body and "None yet" in body and "None scheduled" in body
    # No answers on the caseload.
    assert "connection" not in body


def test_another_practices_couples_never_appear(client, tenants):
    alpha, bravo = tenants["a"], tenants["b"]
    bravo_labels = {case.couple.label for case in bravo.couples}
    for who in (alpha.clinician, alpha.supervisor, alpha.prelicensed):
        client.force_login(who.user)
        response = client.get(CASELOAD)
        assert response.status_code == 200
        assert not set(labels(response)) & bravo_labels
    client.force_login(alpha.clinician.user)
    assert labels(client.get(CASELOAD)) == [alpha.couples[0].couple.label]


def test_a_supervisor_sees_the_supervisees_couples(client, tenants):
    alpha = tenants["a"]
    client.force_login(alpha.supervisor.user)
    response = client.get(CASELOAD)
    assert sorted(labels(response)) == sorted(case.couple.label for case in alpha.couples)


def test_a_practice_admin_who_treats_no_couples_sees_an_empty_caseload(client, tenants):
    client.force_login(tenants["a"].admin.user)
    response = client.get(CASELOAD)
    assert response.status_code == 200
    assert labels(response) == []
    body = response.content.decode()
    assert "No couples on your caseload" in body
    assert BADGE not in body


def test_query_count_does_not_grow_with_the_caseload(client, django_assert_max_num_queries):
    def caseload_of(size: int):
        clinician = ClinicianFactory(practice=PracticeFactory())
        for n in range(size):
            couple, a, b = couple_with_partners(clinician, label=f"Couple {n:02d}")
            TherapySessionFactory(couple=couple, starts_at=timezone.now() + datetime.timedelta(days=n + 1))
            if n % 3 == 0:
                flag(a)
        return clinician

    small, large = caseload_of(2), caseload_of(20)
    client.force_login(small.user)
    with CaptureQueriesContext(connection) as small_queries:
        assert len(client.get(CASELOAD).context["couples"]) == 2
    client.force_login(large.user)
    with django_assert_max_num_queries(len(small_queries)):
        response = client.get(CASELOAD)
    assert len(response.context["couples"]) == 20
    assert response.content.decode().count(BADGE) == 7


def test_a_flag_raised_by_a_safety_answer_is_on_the_very_next_load(client, clinician):
    couple_with_partners(clinician, label="Adams")
    couple, a, _ = couple_with_partners(clinician, label="Webb")
    client.force_login(clinician.user)
    before = client.get(CASELOAD)
    assert labels(before) == ["Adams", "Webb"]
    assert BADGE not in before.content.decode()

    cycle.safety_flag_raise(partner=a, source=SafetyFlag.Source.CHECK_IN)

    after = client.get(CASELOAD)
    assert labels(after) == ["Webb", "Adams"]
    assert BADGE in after.content.decode()


def test_a_positive_safety_answer_in_a_check_in_raises_the_flag_shown(client, clinician):
    couple, a, _ = couple_with_partners(clinician, label="Quinn")
    instrument = shipped_instrument()
    cycle.checkin_submit(
        partner=a,
        instrument=instrument,
        answers={"cycle_showed_up": True, "connection": 4, "felt_unsafe": True},
    )
    client.force_login(clinician.user)
    body = client.get(CASELOAD).content.decode()
    assert BADGE in body
    assert "felt_unsafe" not in body
