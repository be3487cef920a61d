"""partner_links_issue: the dispatcher's batch path for links (no full_clean lookups)."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinician.conf import cyclecare_settings
from cyclecare.models import PartnerLink, ReminderDelivery
from cyclecare.partner_access import (
    LinkRequest,
    LinkState,
    partner_link_issue,
    partner_link_resolve,
    partner_links_issue,
)
from cyclecare.reminders import dispatch
from tests.cyclecare.reminder_world import assign, at, plan, world
from tests.cyclecare.test_partner_links import due  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
NY = "America/New_York"


def test_a_batch_of_links_is_one_insert_and_each_link_works(due, django_assert_num_queries):  # noqa: F811
    a, b, occurrence = due
    with django_assert_num_queries(1):
        issued = partner_links_issue(
            [
                LinkRequest(partner=a, purpose=PartnerLink.Purpose.CHECK_IN, occurrence=occurrence),
                LinkRequest(partner=a, purpose=PartnerLink.Purpose.HOME),
                LinkRequest(partner=b, purpose=PartnerLink.Purpose.HOME),
            ]
        )
    assert [link.partner for link, _ in issued] == [a, a, b]
    for link, token in issued:
        assert link.pk is not None and token not in link.token_sha256
        assert link.practice_id == link.partner.practice_id
        resolved = partner_link_resolve(token=token)
        assert resolved.state == LinkState.VALID and resolved.link == link
    check_in, home = issued[0][0], issued[1][0]
    assert check_in.occurrence == occurrence and home.occurrence is None
    # The same lifetimes as partner_link_issue.
    now = timezone.now()
    hours = datetime.timedelta(hours=cyclecare_settings.CHECKIN_LINK_HOURS)
    assert now - datetime.timedelta(minutes=1) < check_in.expires_at - hours <= now
    hours = datetime.timedelta(hours=cyclecare_settings.HOME_LINK_HOURS)
    assert now - datetime.timedelta(minutes=1) < home.expires_at - hours <= now


def test_no_links_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert partner_links_issue([]) == []


@pytest.mark.parametrize(
    "request_for",
    [
        lambda a, b, occurrence: LinkRequest(partner=b, purpose="check_in", occurrence=occurrence),
        lambda a, b, occurrence: LinkRequest(partner=a, purpose="check_in"),
        lambda a, b, occurrence: LinkRequest(partner=a, purpose="home", occurrence=occurrence),
        lambda a, b, occurrence: LinkRequest(partner=a, purpose="episode"),
    ],
    ids=["another-partners-occurrence", "check-in-without-occurrence", "home-with-occurrence", "bad-purpose"],
)
def test_an_inconsistent_request_is_refused_and_nothing_is_made(due, request_for):  # noqa: F811
    a, b, occurrence = due
    good = LinkRequest(partner=a, purpose="home")
    with pytest.raises(ValidationError):
        partner_links_issue([good, request_for(a, b, occurrence)])
    assert not PartnerLink.objects.exists()


def test_the_single_link_path_still_validates(due):  # noqa: F811
    a, b, occurrence = due
    with pytest.raises(ValidationError):
        partner_link_issue(partner=b, purpose="check_in", occurrence=occurrence)
    link, _ = partner_link_issue(partner=a, purpose="check_in", occurrence=occurrence)
    assert link.pk is not None


def test_claiming_a_batch_takes_the_same_queries_for_one_reminder_or_many(settings):
    settings.CYCLECARE = {**settings.CYCLECARE, "REMINDER_SPREAD_MINUTES": 1}
    for _ in range(3):
        w = world(zone_a=NY, zone_b=NY)
        assign(w)
    plan(at(NY, 2026, 3, 2, 12))
    now = at(NY, 2026, 3, 2, 20, 5)
    ids = list(
        ReminderDelivery.objects.filter(next_attempt_at__lte=now).order_by("pk").values_list("pk", flat=True)
    )
    assert len(ids) == 6
    with CaptureQueriesContext(connection) as one:
        claimed, _ = dispatch._claim(ids[:1], now=now)
    assert len(claimed) == 1
    with CaptureQueriesContext(connection) as five:
        claimed, _ = dispatch._claim(ids[1:], now=now)
    assert len(claimed) == 5
    assert len(five) == len(one)
    rows = ReminderDelivery.objects.select_related("link").filter(pk__in=ids)
    assert {row.status for row in rows} == {ReminderDelivery.Status.SENDING}
    for row in rows:
        assert row.link.partner_id == row.partner_id and row.link.occurrence_id == row.occurrence_id
