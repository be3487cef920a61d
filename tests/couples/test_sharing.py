"""Sharing with the other partner: one rule, ``couples.services.sharing_allowed``.

Rules under test: a partner of a couple may share a check-in or a self-reported episode; in an
individual case (a partner continuing alone after a separation) nobody is there to share with,
so every service that shares refuses a share on ``shared_with_partner`` (code
``individual_case``) and saves nothing, while stopping a share stays allowed. The partner pages
ask the same rule whether to offer sharing, and save a share sent anyway private. The API sets
no sharing at all: a check-in or episode recorded there is private in either kind of case.
"""

import datetime
import re
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from couples.models import Couple, Partner
from couples.services import NO_PARTNER_TO_SHARE_WITH, sharing_allowed
from cyclecare import separation
from cyclecare import services as cycle
from cyclecare.models import CheckIn, CycleEpisode, Instrument
from cyclecare.partner_access import checkin_submit_via_link, partner_link_issue
from tests.factories import couple_with_partners

pytestmark = pytest.mark.django_db

ANSWERS = {"cycle_showed_up": True, "my_move": "toward", "connection": 7}


@pytest.fixture
def instrument():
    return Instrument.objects.get(practice=None, code="cycle-checkin")


@pytest.fixture(params=["couple", "individual"])
def case(request):
    """A partner (``author``) in a couple, or continuing alone in an individual case."""
    couple, a, b = couple_with_partners()
    if request.param == "individual":
        separation.couple_separate(
            user=couple.primary_clinician.user,
            couple=couple,
            continuing=[a],
            separation_reason=Couple.SeparationReason.RELATIONSHIP_ENDED,
        )
    author = Partner.objects.select_related("couple").get(pk=a.pk)
    return author, request.param == "couple"


def refused_share(excinfo: pytest.ExceptionInfo) -> bool:
    errors = excinfo.value.error_dict
    [error] = errors["shared_with_partner"]
    return set(errors) == {"shared_with_partner"} and error.code == "individual_case"


def occurrence_for(partner: Partner, instrument: Instrument):
    homework = cycle.assignment_create(
        user=partner.couple.primary_clinician.user,
        couple=partner.couple,
        partners=[partner],
        kind="check_in",
        title="Daily check-in",
        schedule="daily",
        local_time=datetime.time(21),
        starts_on=timezone.localdate(),
        instrument=instrument,
    )
    occurrence, _ = cycle.occurrence_materialise(
        assignment=homework,
        partner=partner,
        local_due_date=timezone.localdate(),
        local_due_time=datetime.time(21),
    )
    return occurrence


# THE RULE
# ------------------------------------------------------------------------------
def test_a_couple_offers_sharing_and_an_individual_case_does_not(case):
    author, is_couple = case
    assert author.couple.kind == ("couple" if is_couple else "individual")
    assert sharing_allowed(author.couple) is is_couple


# THE SERVICES
# ------------------------------------------------------------------------------
def test_a_check_in_is_shared_only_where_there_is_a_partner(case, instrument):
    author, is_couple = case
    if is_couple:
        assert cycle.checkin_submit(
            partner=author, instrument=instrument, answers=ANSWERS, shared_with_partner=True
        ).shared_with_partner
        return
    with pytest.raises(ValidationError) as excinfo:
        cycle.checkin_submit(partner=author, instrument=instrument, answers=ANSWERS, shared_with_partner=True)
    assert refused_share(excinfo)
    assert excinfo.value.error_dict["shared_with_partner"][0].message == NO_PARTNER_TO_SHARE_WITH
    assert not CheckIn.objects.filter(partner=author).exists()
    # Private, it is saved.
    assert not cycle.checkin_submit(
        partner=author, instrument=instrument, answers=ANSWERS
    ).shared_with_partner


def test_a_check_in_recorded_by_the_clinician_follows_the_same_rule(case, instrument):
    author, is_couple = case
    clinician = author.couple.primary_clinician.user
    if is_couple:
        assert cycle.checkin_submit(
            partner=author,
            instrument=instrument,
            answers=ANSWERS,
            shared_with_partner=True,
            recorded_by=clinician,
        ).shared_with_partner
        return
    with pytest.raises(ValidationError) as excinfo:
        cycle.checkin_submit(
            partner=author,
            instrument=instrument,
            answers=ANSWERS,
            shared_with_partner=True,
            recorded_by=clinician,
        )
    assert refused_share(excinfo)
    assert not CheckIn.objects.filter(partner=author).exists()


def test_a_check_in_by_link_follows_the_same_rule_and_leaves_the_link_unused(case, instrument):
    author, is_couple = case
    occurrence = occurrence_for(author, instrument)
    _, token = partner_link_issue(partner=author, purpose="check_in", occurrence=occurrence)
    if is_couple:
        assert checkin_submit_via_link(
            token=token, answers=ANSWERS, shared_with_partner=True
        ).shared_with_partner
        return
    with pytest.raises(ValidationError) as excinfo:
        checkin_submit_via_link(token=token, answers=ANSWERS, shared_with_partner=True)
    assert refused_share(excinfo)
    assert not CheckIn.objects.filter(partner=author).exists()
    assert checkin_submit_via_link(token=token, answers=ANSWERS).occurrence_id == occurrence.pk


def test_sharing_an_earlier_check_in_follows_the_same_rule_and_unsharing_is_always_allowed(case, instrument):
    author, is_couple = case
    own = cycle.checkin_submit(partner=author, instrument=instrument, answers=ANSWERS)
    if is_couple:
        assert cycle.checkin_set_shared(partner=author, checkin=own, shared=True).shared_with_partner
    else:
        with pytest.raises(ValidationError) as excinfo:
            cycle.checkin_set_shared(partner=author, checkin=own, shared=True)
        assert refused_share(excinfo)
        assert not CheckIn.objects.get(pk=own.pk).shared_with_partner
        # One shared before the separation (it moved with its author) can still be made private.
        CheckIn.objects.filter(pk=own.pk).update(shared_with_partner=True)
    assert not cycle.checkin_set_shared(partner=author, checkin=own, shared=False).shared_with_partner
    assert not CheckIn.objects.get(pk=own.pk).shared_with_partner


def test_a_self_reported_episode_is_shared_only_where_there_is_a_partner(case):
    author, is_couple = case
    record = dict(actor=author, couple=author.couple, occurred_at=timezone.now(), intensity=4)
    if is_couple:
        assert cycle.episode_record(**record, shared_with_partner=True).shared_with_partner
        return
    with pytest.raises(ValidationError) as excinfo:
        cycle.episode_record(**record, shared_with_partner=True)
    assert refused_share(excinfo)
    assert not CycleEpisode.objects.filter(couple=author.couple).exists()
    assert not cycle.episode_record(**record).shared_with_partner


def test_an_episode_the_clinician_saw_stays_private_in_either_case(case):
    author, _ = case
    episode = cycle.episode_record(
        actor=author.couple.primary_clinician.user,
        couple=author.couple,
        occurred_at=timezone.now(),
        intensity=4,
        shared_with_partner=True,
    )
    assert not episode.shared_with_partner


# THE API
# ------------------------------------------------------------------------------
def test_the_api_records_check_ins_and_episodes_private_in_either_case(case, instrument):
    """The API has no write that shares: a clinician or an integration records what a partner
    answered, and only the partner shares, on their own pages. A ``shared_with_partner`` sent
    anyway is not an input (DRF ignores it) and the answer says the record is private."""
    author, _ = case
    api = APIClient()
    api.force_authenticate(user=author.couple.primary_clinician.user)
    checkin = api.post(
        "/api/v1/checkins/",
        {"partner": author.pk, "instrument": instrument.pk, "answers": ANSWERS, "shared_with_partner": True},
        format="json",
    )
    assert checkin.status_code == 201, checkin.content
    assert checkin.json()["shared_with_partner"] is False
    episode = api.post(
        "/api/v1/episodes/",
        {
            "couple": author.couple_id,
            "occurred_at": timezone.now().isoformat(),
            "intensity": 4,
            "shared_with_partner": True,
        },
        format="json",
    )
    assert episode.status_code == 201, episode.content
    assert episode.json()["shared_with_partner"] is False
    assert not CheckIn.objects.filter(shared_with_partner=True).exists()
    assert not CycleEpisode.objects.filter(shared_with_partner=True).exists()


# THE PARTNER PAGES
# ------------------------------------------------------------------------------
def signed_in(partner: Partner) -> Client:
    client = Client()
    _, token = partner_link_issue(partner=partner, purpose="home")
    assert client.get(reverse("cyclecare:partner:home-link", args=[token])).status_code == 302
    return client


def test_the_check_in_page_offers_sharing_as_the_rule_says_and_saves_a_forged_share_private(case, instrument):
    author, is_couple = case
    _, token = partner_link_issue(
        partner=author, purpose="check_in", occurrence=occurrence_for(author, instrument)
    )
    browser = Client()
    url = reverse("cyclecare:partner:checkin", args=[token])
    assert ('name="share"' in browser.get(url).content.decode()) is is_couple
    answers = {
        "instrument": f"{instrument.pk}:{instrument.version}",
        "cycle_showed_up": "yes",
        "my_move": "toward",
        "connection": "7",
        "share": "on",
    }
    assert browser.post(url, answers).status_code == 302
    assert CheckIn.objects.get(partner=author).shared_with_partner is is_couple


def test_the_episode_page_offers_sharing_as_the_rule_says_and_saves_a_forged_share_private(case):
    author, is_couple = case
    browser = signed_in(author)
    page = browser.get(reverse("cyclecare:partner:episode")).content.decode()
    assert ('name="shared_with_partner"' in page) is is_couple
    occurred_at = timezone.localtime(
        timezone.now() - datetime.timedelta(hours=2), zoneinfo.ZoneInfo(author.time_zone)
    )
    episode = {
        "form_nonce": re.search(r'name="form_nonce" value="([^"]+)"', page)[1],
        "occurred_at": occurred_at.strftime("%Y-%m-%dT%H:%M"),
        "intensity": "4",
        "role": "unsure",
        "shared_with_partner": "on",
    }
    assert browser.post(reverse("cyclecare:partner:episode"), episode).status_code == 302
    assert CycleEpisode.objects.get(reported_by=author).shared_with_partner is is_couple


def test_the_share_button_is_offered_as_the_rule_says_and_a_forged_share_is_not_found(case, instrument):
    author, is_couple = case
    own = cycle.checkin_submit(partner=author, instrument=instrument, answers=ANSWERS)
    browser = signed_in(author)
    home = browser.get(reverse("cyclecare:partner:home")).content.decode()
    assert ("Share with my partner" in home) is is_couple
    response = browser.post(reverse("cyclecare:partner:checkin-share", args=[own.pk]), {"shared": "1"})
    assert response.status_code == (302 if is_couple else 404)
    assert CheckIn.objects.get(pk=own.pk).shared_with_partner is is_couple
