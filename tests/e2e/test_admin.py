"""The operator's admin in a real browser: sign in, read a couple and a signed note (decrypted
for display), and find PHI models read-only."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from couples import services
from tests.factories import UserFactory, couple_with_partners, held_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_operator_reads_a_signed_note_in_the_admin(page, artifacts_dir):
    UserFactory(username="operator@example.test", is_staff=True, is_superuser=True)
    couple, a, b = couple_with_partners(label="Rivera & Chen")
    user = couple.primary_clinician.user
    note = services.note_create(
        user=user, session=held_session(couple), data="Named the cycle together.", assessment="a", plan="p"
    )
    services.note_sign(user=user, note=note)

    page.goto("/admin/")
    page.get_by_label("Email or username").fill("operator@example.test")
    page.get_by_label("Password").fill("pw-for-tests-only")
    page.get_by_role("button", name="Sign in").click()  # the admin signs in through allauth
    page.get_by_role("link", name="Couples", exact=True).click()
    page.get_by_role("link", name="Rivera & Chen").click()
    expect(page.get_by_text(a.display_name, exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "admin-couple.png"), full_page=True)

    page.goto(reverse("admin:couples_sessionnote_change", args=[note.pk]))
    expect(page.get_by_text("Named the cycle together.")).to_be_visible()
    # Read-only: no save button on PHI.
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "admin-signed-note.png"), full_page=True)
