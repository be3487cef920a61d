"""The cycle map and homework in a real browser at 1280×800: edit the map and see the loop
redrawn (a new version in the history), record an episode, follow the repair suggestion to a
prefilled confirm form, and assign homework from the library in two clicks. No CSP violation.

Screenshots: test-artifacts/cycle-map-1280.png, test-artifacts/homework-1280.png.
"""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from cyclecare import services
from cyclecare.models import Assignment, CycleEpisode, CycleMap
from tests.factories import ClinicianFactory, couple_with_partners, held_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def case():
    clinician = ClinicianFactory(display_name="Dr Ana Okafor")
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen", names=("Alex", "Sam"))
    held_session(couple)
    services.cycle_map_save(
        user=clinician.user,
        couple=couple,
        positions=[
            {
                "partner": a,
                "move": "pursue",
                "trigger": "Sam goes quiet at dinner",
                "perception": "I don't matter to you",
                "surface_emotion": "frustration, criticism",
                "move_detail": "asks again, follows into the next room",
                "underlying_emotion": "fear of being alone",
                "longing": "to know I matter",
            },
            {
                "partner": b,
                "move": "withdraw",
                "trigger": "Alex's raised voice",
                "perception": "I'm failing again",
                "surface_emotion": "numbness",
                "move_detail": "goes quiet, leaves the room",
                "underlying_emotion": "shame",
                "longing": "to be enough as I am",
            },
        ],
        summary="The more Alex reaches, the more Sam retreats, and the harder Alex reaches.",
    )
    return clinician, couple, a, b


def test_map_episode_suggestion_and_two_click_homework(page, live_server, login_as, artifacts_dir, case):
    clinician, couple, a, b = case
    csp_errors: list[str] = []
    page.on(
        "console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    login_as(clinician.user)

    # The map, drawn as its loop.
    page.goto(reverse("cyclecare:clinician:cycle_map", args=[couple.pk]))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cycle map · Rivera & Chen")
    diagram = page.locator("svg.cm-diagram")
    expect(diagram).to_be_visible()
    expect(diagram).to_contain_text("Alex · pursues")
    expect(diagram).to_contain_text("Sam · withdraws")
    expect(diagram).to_contain_text("fear of being alone")

    # Edit it: a new version, the drawing follows, the history names the field that changed.
    underlying = page.get_by_role("group", name="Alex").get_by_label("Underlying emotion")
    underlying.fill("terror of being left behind")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_role("status")).to_contain_text("Saved as version 2.")
    expect(diagram).to_contain_text("terror of being left behind")
    expect(diagram).not_to_contain_text("fear of being alone")
    history = page.get_by_role("region", name="History")
    expect(history.locator("li.version")).to_have_count(2)
    expect(history.locator('li[data-version="2"]')).to_contain_text("Alex: Underlying emotion")
    assert CycleMap.objects.filter(couple=couple).count() == 2
    page.screenshot(path=str(artifacts_dir / "cycle-map-1280.png"), full_page=True)

    # The older version is one click away and shows what it was.
    history.get_by_role("link", name="Version 1").click()
    expect(page.locator("svg.cm-diagram")).to_contain_text("fear of being alone")

    # Record an episode from the clinician side; the same partner in both roles is refused first.
    page.get_by_role("link", name="Record an episode").click()
    page.get_by_label("Who pursued").select_option(label="Alex")
    page.get_by_label("Who withdrew").select_option(label="Alex")
    page.get_by_label("Intensity (0 barely – 10 most intense)").fill("8")
    page.get_by_role("button", name="Record the episode").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "The pursuer and the withdrawer are different partners."
    )
    assert not CycleEpisode.objects.exists()
    page.get_by_label("Who withdrew").select_option(label="Sam")
    page.get_by_label("A repair was attempted").check()
    page.get_by_label("Did the repair work?").select_option(label="No")
    page.get_by_label("What set it off (optional)").fill("Phone at dinner")
    page.get_by_role("button", name="Record the episode").click()
    expect(page.get_by_role("status")).to_contain_text("Episode recorded.")
    episode = CycleEpisode.objects.get()
    assert (episode.pursuer, episode.withdrawer, episode.intensity, episode.repair_worked) == (a, b, 8, False)

    # Follow the repair suggestion: one click to the prefilled confirm form, one to assign.
    suggestion = page.get_by_role("region", name="Suggest repair practice")
    suggestion.get_by_role("link", name="Assign Pause-and-return to Alex and Sam…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pause-and-return")
    expect(page.get_by_label("Alex")).to_be_checked()
    expect(page.get_by_label("Sam")).to_be_checked()
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Assigned “Pause-and-return” to Alex and Sam.")

    # Two clicks from the library: the template, then Assign.
    page.get_by_role("link", name="Assign… Daily cycle check-in").click()
    expect(page.get_by_label("Time of day (each partner's own time zone)")).to_have_value("20:00")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Assigned “Daily cycle check-in” to Alex and Sam.")
    current = page.get_by_role("region", name="Current homework")
    expect(current.locator("tbody tr")).to_have_count(2)
    expect(current).to_contain_text("Daily at 20:00")
    assert sorted(Assignment.objects.values_list("title", flat=True)) == [
        "Daily cycle check-in",
        "Pause-and-return",
    ]

    # The suggestion is gone now that the pause-and-return is running for both.
    page.goto(reverse("cyclecare:clinician:episode", args=[couple.pk, episode.pk]))
    expect(page.get_by_role("link", name=re.compile("Assign Pause-and-return"))).to_have_count(0)

    page.goto(reverse("cyclecare:clinician:homework", args=[couple.pk]))
    page.keyboard.press("Tab")
    page.screenshot(path=str(artifacts_dir / "homework-1280.png"), full_page=True)
    assert csp_errors == []
