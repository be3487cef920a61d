"""An erased partner's way in ends with the erasure: their links and their open session."""

import pytest
from django.urls import reverse

from couples import services as couple_services
from cyclecare.models import PartnerLink
from cyclecare.partner_access import partner_link_issue
from tests.factories import couple_with_partners

pytestmark = pytest.mark.django_db


def test_an_open_partner_session_and_the_links_stop_at_erasure_and_resume_at_undo(client):
    couple, a, _ = couple_with_partners(names=("Alex", "Sam"))
    _, token = partner_link_issue(partner=a, purpose=PartnerLink.Purpose.HOME)
    assert client.get(reverse("cyclecare:partner:home-link", args=[token])).status_code == 302
    home = reverse("cyclecare:partner:home")
    assert client.get(home).status_code == 200

    erasure = couple_services.partner_erase(user=couple.primary_clinician.user, partner=a)
    refused = client.get(home)
    assert refused.status_code == 403 and "Alex" not in refused.text
    assert client.get(reverse("cyclecare:partner:home-link", args=[token])).status_code == 410

    couple_services.partner_erasure_undo(user=couple.primary_clinician.user, erasure=erasure)
    assert client.get(home).status_code == 200  # the session itself was never deleted
