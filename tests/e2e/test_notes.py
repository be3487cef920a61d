"""A session note in a real browser at 1280×800: open a held session's note, write the DAP
sections and the cycle section, watch autosave, sign, find the note locked, add an addendum and
open the print view; and the sessions page books and records a session.

Screenshots: test-artifacts/note-draft-1280.png, note-signed-1280.png and note-print-1280.png
(print media).
"""

import re

import pytest
from playwright.sync_api import expect

from couples.models import Addendum, SessionNote, TherapySession
from tests.factories import ClinicianFactory, couple_with_partners, held_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world():
    clinician = ClinicianFactory(display_name="Dr Ana Okafor", credentials="LMFT")
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen", names=("Mei", "Jordan"))
    return clinician, couple, a, b, held_session(couple)


def test_write_autosave_sign_lock_addendum_print(page, login_as, artifacts_dir, world):
    clinician, couple, a, b, session = world
    errors: list[str] = []
    # Script errors only (the refused sign and the refused POST below answer 400 and 409 on purpose).
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None,
    )
    login_as(clinician.user)

    # From the session page to a new DAP draft.
    page.goto(f"/clinic/sessions/{session.pk}/")
    page.get_by_role("link", name="Write the note").click()
    expect(page.get_by_role("heading", name="Start the note")).to_be_visible()
    page.get_by_label("DAP").check()
    page.get_by_role("button", name="Start writing").click()
    expect(page.get_by_role("heading", name=re.compile("Draft note"))).to_be_visible()
    note = SessionNote.objects.get(session=session)

    # SOAP-only sections are hidden while the note is DAP; BIRP would show its own.
    expect(page.get_by_label("Data", exact=True)).to_be_visible()
    expect(page.get_by_label("Subjective")).to_be_hidden()

    status = page.locator("#autosave-status")
    page.get_by_label("Data", exact=True).fill("Mei raised the weekend; Jordan went quiet and left the room.")
    page.get_by_label("Assessment").fill("Pursue–withdraw cycle active; de-escalation, step 2.")
    page.get_by_label("EFT stage").select_option("1")
    page.get_by_label("EFT step").select_option("2")
    page.get_by_label("Mei: move").select_option("pursue")
    page.get_by_label("Mei: position").fill("Moves toward with questions when she feels distance.")
    page.get_by_label("Jordan: move").select_option("withdraw")
    page.get_by_label("Homework assigned").fill("Daily cycle check-in.")
    page.get_by_label("Safety review").fill("Asked separately; no safety concerns.")
    expect(status).to_have_text(re.compile(r"^Saved \d\d:\d\d$"), timeout=8_000)
    page.wait_for_timeout(300)
    note.refresh_from_db()
    assert note.data.startswith("Mei raised the weekend") and note.partner_a_move == "pursue"
    assert note.eft_step == 2 and note.safety_review.startswith("Asked separately")
    page.screenshot(path=str(artifacts_dir / "note-draft-1280.png"), full_page=True)

    # The plan is still empty: signing is refused and the empty section is named.
    page.get_by_role("button", name="Save and sign").click()
    expect(page.get_by_text(re.compile("The note was not signed"))).to_be_visible()
    expect(page.locator("#id_plan-error")).to_have_text("Write this section before signing.")
    note.refresh_from_db()
    assert note.status == "draft"

    page.get_by_label("Plan").fill("Map the cycle together next session.")
    expect(status).to_have_text(re.compile(r"^Saved \d\d:\d\d$"), timeout=8_000)

    page.get_by_role("button", name="Save and sign").click()
    expect(page.get_by_text("Note signed.")).to_be_visible()
    expect(page.get_by_text(re.compile("Electronically signed by Dr Ana Okafor, LMFT"))).to_be_visible()
    note.refresh_from_db()
    assert note.status == "signed" and note.plan == "Map the cycle together next session."
    digest = note.signed_content_sha256

    # Locked: no field to edit, the editor sends the clinician back, a form POST is refused.
    assert page.locator("textarea[name=plan]").count() == 0
    page.goto(f"/clinic/sessions/{session.pk}/note/")
    expect(page).to_have_url(re.compile(rf"/clinic/notes/{note.pk}/$"))
    status_code = page.evaluate(
        """async (url) => {
            const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
            const body = new URLSearchParams({plan: "Rewritten", csrfmiddlewaretoken: token});
            const headers = {"Accept": "application/json"};
            const response = await fetch(url, {method: "POST", body, headers});
            return response.status;
        }""",
        f"/clinic/notes/{note.pk}/autosave/",
    )
    assert status_code == 409
    # The editor's own form POST: refused, back to the read view with the message.
    redirected = page.evaluate(
        """async (url) => {
            const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
            const body = new URLSearchParams({action: "save", plan: "Rewritten", csrfmiddlewaretoken: token});
            const response = await fetch(url, {method: "POST", body, redirect: "manual"});
            return response.type;
        }""",
        f"/clinic/sessions/{session.pk}/note/",
    )
    assert redirected == "opaqueredirect"
    page.reload()
    expect(
        page.get_by_text("This note is signed and cannot be changed; add an addendum instead.")
    ).to_be_visible()
    note.refresh_from_db()
    assert note.plan == "Map the cycle together next session." and note.signed_content_sha256 == digest

    # An addendum.
    page.get_by_label("Addendum").fill("Jordan emailed: he left to calm down, not to end the talk.")
    page.get_by_role("button", name="Add addendum").click()
    expect(page.get_by_text("Addendum added.")).to_be_visible()
    expect(page.get_by_text("Jordan emailed: he left to calm down")).to_be_visible()
    assert Addendum.objects.filter(note=note).count() == 1
    page.screenshot(path=str(artifacts_dir / "note-signed-1280.png"), full_page=True)

    # The print view: the signed note, its digest and the addendum; print styles loaded.
    page.get_by_role("link", name="Print view").click()
    expect(page.get_by_role("heading", name="Session note (DAP)")).to_be_visible()
    expect(page.get_by_text(digest)).to_be_visible()
    expect(page.get_by_text("Jordan emailed: he left to calm down")).to_be_visible()
    page.emulate_media(media="print")
    page.screenshot(path=str(artifacts_dir / "note-print-1280.png"), full_page=True)
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    assert not errors, errors


def test_book_then_record_a_session(page, login_as, live_server, world):
    clinician, couple, a, b, _ = world
    login_as(clinician.user)
    page.goto(f"/clinic/couples/{couple.pk}/sessions/")
    expect(page.get_by_role("heading", name="Sessions with Rivera & Chen")).to_be_visible()
    # A time in the past: refused with a message, nothing booked.
    page.get_by_label("Starts").fill("2020-01-15T09:30")
    page.get_by_role("button", name="Book session").click()
    expect(page.get_by_text("A scheduled session must be in the future.").first).to_be_visible()
    assert TherapySession.objects.filter(couple=couple).count() == 1
    page.get_by_label("Starts").fill("2031-01-15T09:30")
    page.get_by_role("radio", name="Individual").check()
    page.get_by_label("Partner seen (individual session)").select_option(label="Mei")
    page.get_by_role("button", name="Book session").click()
    expect(page.get_by_text("Session booked.")).to_be_visible()
    booked = TherapySession.objects.get(couple=couple, status="scheduled")
    assert booked.partner == a and booked.starts_at.isoformat() == "2031-01-15T15:30:00+00:00"
    page.get_by_role("radio", name="Cancelled").check()
    page.get_by_role("button", name="Record outcome").click()
    expect(page.get_by_text("Outcome recorded.")).to_be_visible()
    booked.refresh_from_db()
    assert booked.status == "cancelled"
