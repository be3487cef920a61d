import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from cyclecare import services
from cyclecare.models import CheckIn, PartnerLink
from cyclecare.partner_access import (
    LinkState,
    checkin_submit_via_link,
    partner_link_issue,
    partner_link_resolve,
)
from tests.factories import couple_with_partners, daily_checkin, shipped_instrument

pytestmark = pytest.mark.django_db
ANSWERS = {"cycle_showed_up": False, "connection": 7}


@pytest.fixture
def due():
    couple, a, b = couple_with_partners()
    instrument = shipped_instrument()
    assignment = daily_checkin(couple, [a, b], instrument=instrument)
    occurrence, _ = services.occurrence_materialise(
        assignment=assignment,
        partner=a,
        local_due_date=timezone.localdate(),
        local_due_time=datetime.time(20),
    )
    return a, b, occurrence


def test_only_a_hash_of_the_token_is_stored(due):
    a, b, occurrence = due
    link, token = partner_link_issue(partner=a, purpose="check_in", occurrence=occurrence)
    assert token not in link.token_sha256 and len(token) >= 40
    assert not PartnerLink.objects.filter(token_sha256=token).exists()


def test_opening_does_not_use_the_link_but_submitting_does(due):
    a, b, occurrence = due
    _, token = partner_link_issue(partner=a, purpose="check_in", occurrence=occurrence)
    for _ in range(3):  # a mail scanner, the partner, the partner again
        assert partner_link_resolve(token=token).state == LinkState.VALID
    checkin = checkin_submit_via_link(token=token, answers=ANSWERS)
    assert checkin.partner == a and checkin.occurrence == occurrence
    assert partner_link_resolve(token=token).state == LinkState.USED
    with pytest.raises(ValidationError):
        checkin_submit_via_link(token=token, answers=ANSWERS)
    assert CheckIn.objects.count() == 1


def test_bad_answers_leave_the_link_usable(due):
    a, b, occurrence = due
    _, token = partner_link_issue(partner=a, purpose="check_in", occurrence=occurrence)
    with pytest.raises(ValidationError):
        checkin_submit_via_link(token=token, answers={"connection": 11})
    assert partner_link_resolve(token=token).state == LinkState.VALID
    assert CheckIn.objects.count() == 0


def test_expired_forged_and_other_partner_links(due):
    a, b, occurrence = due
    _, token = partner_link_issue(partner=a, purpose="check_in", occurrence=occurrence)
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=73)):
        assert partner_link_resolve(token=token).state == LinkState.EXPIRED
        with pytest.raises(ValidationError):
            checkin_submit_via_link(token=token, answers=ANSWERS)
    assert (
        partner_link_resolve(token=token[:-1] + ("A" if token[-1] != "A" else "B")).state == LinkState.INVALID
    )
    assert partner_link_resolve(token="").state == LinkState.INVALID
    with pytest.raises(ValidationError):
        partner_link_issue(partner=b, purpose="check_in", occurrence=occurrence)
