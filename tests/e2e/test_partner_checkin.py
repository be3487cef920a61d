"""A partner's check-in in a real browser, on a small phone (360×740): the reminder's link, the
keyboard, the thank-you and its chart, a used link, and another partner's session refused.

Screenshots go to test-artifacts/partner-*.png.
"""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cyclecare import services
from cyclecare.models import CheckIn, CycleEpisode
from cyclecare.partner_access import partner_link_issue
from tests.factories import couple_with_partners, shipped_instrument

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 740}
# Everything a thumb presses: buttons, answer rows, checkboxes, sliders and text boxes.
TOUCH_TARGETS = (
    "button, a.button, .choice, .check, input[type=range], textarea, input[type=number], "
    "input[type=datetime-local]"
)


@pytest.fixture
def couple():
    couple, a, b = couple_with_partners(label="Rivera & Chen", names=("Alex", "Bo"))
    instrument = shipped_instrument()
    assignment = services.assignment_create(
        user=couple.primary_clinician.user,
        couple=couple,
        partners=[a, b],
        kind="check_in",
        title="Daily check-in",
        schedule="daily",
        local_time=datetime.time(20),
        starts_on=timezone.localdate(),
        instrument=instrument,
    )
    # A little history, so the chart has a line.
    for days_ago, connection in ((5, 4), (4, 5), (3, 5), (2, 7), (1, 6)):
        services.checkin_submit(
            partner=a,
            instrument=instrument,
            answers={"cycle_showed_up": True, "connection": connection},
            submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
        )
    return couple, a, b, assignment


def reminder_link(assignment, partner, minute: int = 0) -> str:
    occurrence, _ = services.occurrence_materialise(
        assignment=assignment,
        partner=partner,
        local_due_date=timezone.localdate(),
        local_due_time=datetime.time(20, minute),
    )
    _, token = partner_link_issue(partner=partner, purpose="check_in", occurrence=occurrence)
    return f"/p/c/{token}/"


@pytest.fixture
def phone(browser, live_server):
    contexts = []

    def open_phone(**options):
        context = browser.new_context(
            viewport=PHONE, base_url=live_server.url, is_mobile=True, has_touch=True, **options
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_phone
    for context in contexts:
        context.close()


def assert_fits_a_phone(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    small = page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector))
            .filter((e) => e.getClientRects().length)
            .map((e) => [e.outerHTML.slice(0, 80), e.getBoundingClientRect().height])
            .filter(([, height]) => height < 44)""",
        TOUCH_TARGETS,
    )
    assert small == []


def test_a_partner_completes_the_checkin_on_a_phone(couple, phone, artifacts_dir):
    _, a, _, assignment = couple
    link = reminder_link(assignment, a)
    page = phone()
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your check-in")
    assert_fits_a_phone(page)
    page.screenshot(path=str(artifacts_dir / "partner-checkin-360.png"), full_page=True)

    page.get_by_role("group", name="Did your cycle show up since your last check-in?").get_by_label(
        "Yes"
    ).check()
    page.get_by_label("I moved toward my partner").check()

    # The connection slider by keyboard only: focus it, then arrow keys.
    slider = page.get_by_role("slider", name=re.compile("How connected did you feel"))
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(slider).to_have_value("8")
    expect(page.locator("#item-connection-value")).to_have_text("8")  # the visible number follows
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"

    # The intensity slider is optional: moving it un-skips it.
    intensity = page.get_by_role("slider", name=re.compile("How intense was it"))
    skip_intensity = page.locator("#item-intensity-skip")
    expect(skip_intensity).to_be_checked()
    intensity.focus()
    page.keyboard.press("ArrowLeft")
    expect(skip_intensity).not_to_be_checked()

    # A radio answered by keyboard too.
    page.get_by_role("group", name=re.compile("afraid or unsafe")).get_by_label("No").focus()
    page.keyboard.press("Space")
    page.screenshot(path=str(artifacts_dir / "partner-checkin-filled-360.png"), full_page=True)

    page.get_by_role("button", name="Send my check-in").click()
    expect(page).to_have_url(re.compile(r"/p/thanks/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    chart = page.get_by_role("img", name=re.compile("How connected you felt"))
    expect(chart).to_be_visible()
    expect(page.locator(".data-table tbody tr")).to_have_count(6)
    expect(page.get_by_text("If you do not feel safe")).to_have_count(0)
    assert_fits_a_phone(page)
    page.screenshot(path=str(artifacts_dir / "partner-thanks-360.png"), full_page=True)

    checkin = CheckIn.objects.filter(occurrence__isnull=False).get()
    assert checkin.answers == {
        "cycle_showed_up": True,
        "my_move": "toward",
        "intensity": 4,
        "connection": 8,
        "felt_unsafe": False,
    }

    # The same link again: already completed, and nothing more is saved.
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This check-in is already completed")
    expect(page.locator("form input[name=connection]")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "partner-used-link-360.png"), full_page=True)
    assert CheckIn.objects.filter(occurrence__isnull=False).count() == 1


def test_a_double_tap_on_send_saves_one_checkin(couple, phone):
    _, a, _, assignment = couple
    page = phone()
    page.goto(reminder_link(assignment, a))
    page.get_by_role("group", name="Did your cycle show up since your last check-in?").get_by_label(
        "No"
    ).check()
    page.get_by_role("button", name="Send my check-in").dblclick()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    assert CheckIn.objects.filter(occurrence__isnull=False).count() == 1


def test_the_checkin_works_without_javascript(couple, phone):
    _, a, _, assignment = couple
    page = phone(java_script_enabled=False)
    page.goto(reminder_link(assignment, a))
    page.get_by_role("group", name="Did your cycle show up since your last check-in?").get_by_label(
        "No"
    ).check()
    page.get_by_role("slider", name=re.compile("How connected did you feel")).fill("3")
    page.get_by_role("button", name="Send my check-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    assert CheckIn.objects.filter(occurrence__isnull=False).get().answers == {
        "cycle_showed_up": False,
        "connection": 3,
    }


def test_a_safety_answer_shows_crisis_resources(couple, phone, artifacts_dir):
    _, a, _, assignment = couple
    page = phone()
    page.goto(reminder_link(assignment, a))
    page.get_by_role("group", name="Did your cycle show up since your last check-in?").get_by_label(
        "No"
    ).check()
    page.get_by_role("group", name=re.compile("afraid or unsafe")).get_by_label("Yes").check()
    page.get_by_role("button", name="Send my check-in").click()
    crisis = page.get_by_role("region", name="If you do not feel safe")
    expect(crisis).to_be_visible()
    expect(crisis).to_contain_text("988 Suicide & Crisis Lifeline")
    assert_fits_a_phone(page)
    page.screenshot(path=str(artifacts_dir / "partner-crisis-360.png"), full_page=True)


def test_partner_b_cannot_open_partner_a_checkin(couple, phone, artifacts_dir):
    _, a, b, assignment = couple
    link_a = reminder_link(assignment, a)
    page = phone()
    page.goto(reminder_link(assignment, b, minute=1))  # B's own link: B's session on this phone
    expect(page.get_by_role("heading", level=1)).to_have_text("Your check-in")
    page.goto(link_a)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link is for someone else")
    body = page.locator("body").inner_text()
    assert "Alex" not in body and "Rivera" not in body and "Did your cycle" not in body
    assert_fits_a_phone(page)
    page.screenshot(path=str(artifacts_dir / "partner-someone-else-360.png"), full_page=True)

    # Signing out on the shared phone lets A's own link open.
    page.get_by_role("button", name="Sign out on this device").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are signed out")
    page.goto(link_a)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your check-in")
    expect(page.get_by_text("Hi Alex.")).to_be_visible()


def test_a_partner_logs_an_episode_and_reads_home_in_spanish(couple, phone, artifacts_dir):
    _, a, _, assignment = couple
    a.language = "es"
    a.save(update_fields=["language"])
    page = phone(locale="en-US")
    page.goto(reminder_link(assignment, a))
    expect(page.get_by_role("heading", level=1)).to_have_text("Su registro")
    page.screenshot(path=str(artifacts_dir / "partner-checkin-es-360.png"), full_page=True)

    _, home_token = partner_link_issue(partner=a, purpose="home")
    page.goto(f"/p/h/{home_token}/")
    expect(page).to_have_url(re.compile(r"/p/home/$"))
    page.get_by_role("link", name="Registrar un episodio").click()
    page.get_by_role("slider", name=re.compile("Qué tan intenso")).focus()
    page.keyboard.press("ArrowRight")
    page.get_by_label("Me acerqué a mi pareja; mi pareja se alejó").check()
    page.get_by_label("¿Qué lo desencadenó? (opcional)").fill("los platos")
    assert_fits_a_phone(page)
    page.screenshot(path=str(artifacts_dir / "partner-episode-es-360.png"), full_page=True)
    page.get_by_role("button", name="Guardar el episodio").click()
    expect(page).to_have_url(re.compile(r"/p/home/$"))
    expect(page.get_by_text("Su episodio quedó guardado.")).to_be_visible()
    expect(page.get_by_text("Usted se acercó; su pareja se alejó.")).to_be_visible()
    assert_fits_a_phone(page)
    page.screenshot(path=str(artifacts_dir / "partner-home-es-360.png"), full_page=True)
    episode = CycleEpisode.objects.get()
    assert episode.source == CycleEpisode.Source.SELF_REPORT and episode.intensity == 6
    assert episode.pursuer == a and episode.trigger == "los platos"
