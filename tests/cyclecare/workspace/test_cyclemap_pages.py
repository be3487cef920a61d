"""The cycle map editor (versions, history, the loop diagram) and episodes the clinician records
(with the repair practice suggested after them): what the pages show, what they save, what
they refuse, and who may open them."""

import datetime
import re
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from clinician.models import AuditEvent
from cyclecare import services as cycle
from cyclecare.models import CycleEpisode, CycleMap, HomeworkTemplate
from tests.factories import ClinicianFactory, UserFactory, couple_with_partners, held_session

pytestmark = pytest.mark.django_db

FIELDS = ("trigger", "perception", "surface_emotion", "move_detail", "underlying_emotion", "longing")


def url(name: str, couple, *args) -> str:
    return reverse(f"cyclecare:clinician:{name}", args=[couple.pk, *args])


def save_map(clinician, couple, a, b, *, for_a=None, for_b=None):
    values = {
        a: {
            "move": "pursue",
            "surface_emotion": "frustration",
            "underlying_emotion": "fear of being alone",
            "longing": "to know I matter",
            "move_detail": "asks, pushes, follows",
        },
        b: {
            "move": "withdraw",
            "surface_emotion": "numbness",
            "underlying_emotion": "shame",
            "longing": "to be enough",
            "move_detail": "goes quiet, leaves the room",
        },
    }
    values[a].update(for_a or {})
    values[b].update(for_b or {})
    return cycle.cycle_map_save(
        user=clinician.user,
        couple=couple,
        positions=[{"partner": p, **fields} for p, fields in values.items()],
        summary="The more Alex reaches, the more Sam retreats.",
    )


def form_data(cycle_map) -> dict:
    """What the editor posts when nothing is touched (it is prefilled from the current map)."""
    data = {"summary": cycle_map.summary}
    for position in cycle_map.positions.all():
        data[f"p{position.partner_id}-move"] = position.move
        for name in FIELDS:
            data[f"p{position.partner_id}-{name}"] = getattr(position, name)
    return data


def svg_of(response) -> str:
    match = re.search(r"<svg class=\"cm-diagram\".*?</svg>", response.content.decode(), re.S)
    assert match, "no diagram on the page"
    return match.group(0)


# THE MAP AND ITS DIAGRAM
# ------------------------------------------------------------------------------
def test_the_current_map_is_drawn_as_a_loop_with_both_partners(client, clinician, case):
    couple, a, b = case
    save_map(clinician, couple, a, b)
    client.force_login(clinician.user)
    response = client.get(url("cycle_map", couple))
    assert response.status_code == 200
    svg = svg_of(response)
    # Both partners' boxes: surface and move outside, underlying emotion and longing inside.
    assert "Alex · pursues" in svg and "Sam · withdraws" in svg
    for text in (
        "frustration",
        "fear of being alone",
        "to know I matter",
        "numbness",
        "shame",
        "to be enough",
    ):
        assert text in svg
    assert svg.count('class="cm-inner"') == 2
    # Two arrows close the loop; the drawing has a title and a description (its text alternative).
    assert svg.count('class="cm-arrow"') == 2
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert "Alex pursues: on the surface frustration; underneath fear of being alone" in svg
    # No style attribute anywhere (CSP style-src 'self'), no script.
    body = response.content.decode()
    assert "style=" not in body and "<script" not in body
    # The text version of the same map.
    assert "Version 1 as text" in body


def test_the_diagram_escapes_what_the_clinician_typed(client, clinician, case):
    couple, a, b = case
    save_map(clinician, couple, a, b, for_a={"surface_emotion": "<script>alert(1)</script> & anger"})
    client.force_login(clinician.user)
    svg = svg_of(client.get(url("cycle_map", couple)))
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; anger" in svg


def test_a_couple_without_a_map_gets_an_empty_editor_and_the_first_save_draws_it(client, clinician, case):
    couple, a, b = case
    client.force_login(clinician.user)
    page = client.get(url("cycle_map", couple))
    assert page.status_code == 200
    assert "No map yet" in page.content.decode() and "cm-diagram" not in page.content.decode()
    response = client.post(
        url("cycle_map", couple),
        {f"p{a.pk}-move": "pursue", f"p{a.pk}-surface_emotion": "anger", f"p{b.pk}-move": "withdraw"},
    )
    assert response.status_code == 302
    cycle_map = CycleMap.objects.get(couple=couple)
    assert cycle_map.version == 1
    assert {p.partner_id: p.move for p in cycle_map.positions.all()} == {a.pk: "pursue", b.pk: "withdraw"}
    assert "anger" in svg_of(client.get(url("cycle_map", couple)))


def test_each_save_is_a_new_version_and_the_history_names_what_changed(client, clinician, case):
    couple, a, b = case
    first = save_map(clinician, couple, a, b)
    client.force_login(clinician.user)
    data = form_data(first)
    data[f"p{a.pk}-underlying_emotion"] = "terror of being left"
    data[f"p{b.pk}-longing"] = "to rest without failing"
    response = client.post(url("cycle_map", couple), data)
    assert response.status_code == 302
    assert list(CycleMap.objects.filter(couple=couple).values_list("version", flat=True)) == [2, 1]
    page = client.get(url("cycle_map", couple))
    body = page.content.decode()
    assert "Saved as version 2." in body
    assert "terror of being left" in svg_of(page)
    assert "fear of being alone" not in svg_of(page)
    # History: newest first; version 2 lists the changed fields by name (not their values).
    assert re.search(r'data-version="2".*data-version="1"', body, re.S)
    assert "Alex: Underlying emotion; Sam: Longing / attachment need" in body
    assert "First version" in body
    # The older version stays reachable from the history.
    assert url("cycle_map_version", couple, 1) in body
    # The audit trail holds ids and names only.
    assert AuditEvent.objects.filter(action="cyclemap.save").count() == 2


def test_an_older_version_shows_its_own_map_and_what_changed_since(client, clinician, case):
    couple, a, b = case
    save_map(clinician, couple, a, b)
    save_map(clinician, couple, a, b, for_b={"move_detail": "changes the subject"})
    client.force_login(clinician.user)
    response = client.get(url("cycle_map_version", couple, 1))
    assert response.status_code == 200
    svg = svg_of(response)
    assert "goes quiet, leaves the room" in svg and "changes the subject" not in svg
    body = response.content.decode()
    assert "First version" in body
    assert "Sam: How they pursue or withdraw" in body  # since then, up to version 2
    assert client.get(url("cycle_map_version", couple, 3)).status_code == 404


def test_saving_an_unchanged_map_makes_no_new_version(client, clinician, case):
    couple, a, b = case
    first = save_map(clinician, couple, a, b)
    client.force_login(clinician.user)
    response = client.post(url("cycle_map", couple), form_data(first))
    assert response.status_code == 400
    assert "Nothing changed since version 1, so no new version was saved." in response.content.decode()
    assert CycleMap.objects.filter(couple=couple).count() == 1


def test_a_partner_without_a_move_is_refused_with_a_message_and_nothing_saved(client, clinician, case):
    couple, a, b = case
    first = save_map(clinician, couple, a, b)
    client.force_login(clinician.user)
    data = form_data(first)
    del data[f"p{b.pk}-move"]
    data[f"p{a.pk}-longing"] = "something new"
    response = client.post(url("cycle_map", couple), data)
    assert response.status_code == 400
    body = response.content.decode()
    assert "Choose whether this partner pursues or withdraws." in body
    assert "Nothing was saved" in body
    # What was typed is kept in the form.
    assert "something new" in body
    assert CycleMap.objects.filter(couple=couple).count() == 1


def test_an_unknown_move_is_refused(client, clinician, case):
    couple, a, b = case
    client.force_login(clinician.user)
    response = client.post(url("cycle_map", couple), {f"p{a.pk}-move": "attack", f"p{b.pk}-move": "withdraw"})
    assert response.status_code == 400
    assert not CycleMap.objects.filter(couple=couple).exists()


# EPISODES
# ------------------------------------------------------------------------------
def episode_post(a, b, **changes) -> dict:
    data = {
        "occurred_at": "2026-03-08T19:30",
        "pursuer": a.pk,
        "withdrawer": b.pk,
        "intensity": 7,
        "duration_minutes": 25,
        "repair_attempted": "on",
        "repair_worked": "yes",
        "trigger": "Late home without a text",
        "notes": "",
        "session": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_recording_an_episode_saves_it_in_the_practice_time_zone(client, clinician, case):
    couple, a, b = case
    session = held_session(couple)
    client.force_login(clinician.user)
    form = client.get(url("episode_new", couple))
    assert form.status_code == 200
    assert 'type="datetime-local"' in form.content.decode()
    response = client.post(url("episode_new", couple), episode_post(a, b, session=session.pk))
    assert response.status_code == 302
    episode = CycleEpisode.objects.get(couple=couple)
    assert response["Location"] == url("episode", couple, episode.pk)
    # 19:30 on the practice's wall clock (America/Chicago, CDT from 8 March 2026 at 02:00).
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    assert episode.occurred_at == datetime.datetime(2026, 3, 8, 19, 30, tzinfo=chicago)
    assert episode.occurred_at.astimezone(datetime.UTC).hour == 0
    assert (episode.pursuer, episode.withdrawer, episode.intensity) == (a, b, 7)
    assert (episode.repair_attempted, episode.repair_worked, episode.duration_minutes) == (True, True, 25)
    assert episode.source == CycleEpisode.Source.SESSION
    assert episode.recorded_by_clinician == clinician
    assert episode.session == session
    page = client.get(response["Location"]).content.decode()
    assert "Episode recorded." in page and "Late home without a text" in page


def test_the_same_partner_as_pursuer_and_withdrawer_is_refused_and_nothing_saved(client, clinician, case):
    couple, a, b = case
    client.force_login(clinician.user)
    response = client.post(url("episode_new", couple), episode_post(a, b, withdrawer=a.pk))
    assert response.status_code == 400
    assert "The pursuer and the withdrawer are different partners." in response.content.decode()
    assert not CycleEpisode.objects.exists()


def test_the_service_refuses_the_same_partner_in_both_roles_too(clinician, case):
    couple, a, _ = case
    with pytest.raises(ValidationError) as refused:
        cycle.episode_record(
            actor=clinician.user,
            couple=couple,
            occurred_at=timezone.now(),
            intensity=5,
            pursuer=a,
            withdrawer=a,
        )
    assert "withdrawer" in refused.value.message_dict
    assert not CycleEpisode.objects.exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"repair_attempted": None, "repair_worked": "no"},
            "Say a repair was attempted before saying whether it worked.",
        ),
        ({"intensity": 11}, "Ensure this value is less than or equal to 10."),
        ({"occurred_at": "2099-01-01T10:00"}, "An episode cannot be in the future."),
        ({"occurred_at": "yesterday"}, "Enter a valid date/time."),
    ],
)
def test_bad_episode_input_gets_a_clear_message(client, clinician, case, changes, message):
    couple, a, b = case
    client.force_login(clinician.user)
    response = client.post(url("episode_new", couple), episode_post(a, b, **changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not CycleEpisode.objects.exists()


def test_a_refusal_the_form_did_not_foresee_is_shown_on_the_form(client, clinician, case, monkeypatch):
    """The form checks what it can (cyclecare.forms.EpisodeForm); the service has the last word,
    and its refusal reaches the page next to the field it names, with nothing saved."""
    couple, a, b = case

    def refuse(**kwargs):
        raise ValidationError({"intensity": "Refused by the service."})

    monkeypatch.setattr(cycle, "episode_record", refuse)
    client.force_login(clinician.user)
    response = client.post(url("episode_new", couple), episode_post(a, b))
    assert response.status_code == 400
    assert "Refused by the service." in response.content.decode()
    assert not CycleEpisode.objects.exists()


def test_another_couples_partner_or_session_cannot_be_chosen(client, clinician, case):
    couple, a, b = case
    _, stranger, _ = couple_with_partners(clinician)
    other_session = held_session(stranger.couple)
    client.force_login(clinician.user)
    for changes in ({"pursuer": stranger.pk}, {"session": other_session.pk}):
        response = client.post(url("episode_new", couple), episode_post(a, b, **changes))
        assert response.status_code == 400
        assert "Select a valid choice." in response.content.decode()
    assert not CycleEpisode.objects.exists()


# THE REPAIR SUGGESTION
# ------------------------------------------------------------------------------
def test_after_an_episode_repair_practice_is_suggested_for_the_partners_in_it(client, clinician, case):
    couple, a, b = case
    client.force_login(clinician.user)
    response = client.post(url("episode_new", couple), episode_post(a, b), follow=True)
    body = response.content.decode()
    assert "Suggest repair practice" in body
    assert "Assign Pause-and-return to Alex and Sam…" in body
    template = HomeworkTemplate.objects.get(practice=None, code="pause-and-return")
    link = reverse("cyclecare:clinician:homework_assign", args=[couple.pk, template.pk])
    assert f"{link}?partners={a.pk}&amp;partners={b.pk}" in body
    # One click: the confirm form, prefilled for both partners.
    form = client.get(f"{link}?partners={a.pk}&partners={b.pk}")
    assert form.status_code == 200
    assert form.context["form"].initial["partners"] == [str(a.pk), str(b.pk)]


def test_no_suggestion_when_the_repair_practice_is_already_running(client, clinician, case):
    couple, a, b = case
    installed = {t.code: t for t in cycle.homework_templates_install_shipped()}
    for code in ("pause-and-return", "episode-log"):
        cycle.assignment_from_template(user=clinician.user, couple=couple, template=installed[code])
    client.force_login(clinician.user)
    response = client.post(url("episode_new", couple), episode_post(a, b), follow=True)
    assert "Suggest repair practice" not in response.content.decode()


def test_the_suggestion_names_only_the_partner_who_does_not_have_it_yet(client, clinician, case):
    couple, a, b = case
    installed = {t.code: t for t in cycle.homework_templates_install_shipped()}
    cycle.assignment_from_template(
        user=clinician.user, couple=couple, template=installed["pause-and-return"], partners=[a]
    )
    client.force_login(clinician.user)
    body = client.post(url("episode_new", couple), episode_post(a, b), follow=True).content.decode()
    assert "Assign Pause-and-return to Sam…" in body
    assert "Assign Episode log after a flare-up to Alex and Sam…" in body


# WHO MAY OPEN THE PAGES
# ------------------------------------------------------------------------------
def test_another_practices_couple_is_a_404_and_nothing_is_saved(client, case):
    couple, a, b = case
    elsewhere = ClinicianFactory()
    episode = cycle.episode_record(
        actor=couple.primary_clinician.user, couple=couple, occurred_at=timezone.now(), intensity=3
    )
    save_map(couple.primary_clinician, couple, a, b)
    client.force_login(elsewhere.user)
    for target in (
        url("cycle_map", couple),
        url("cycle_map_version", couple, 1),
        url("episode_new", couple),
        url("episode", couple, episode.pk),
    ):
        assert client.get(target).status_code == 404
    assert client.post(url("episode_new", couple), episode_post(a, b)).status_code == 404
    assert (
        client.post(
            url("cycle_map", couple), {f"p{a.pk}-move": "pursue", f"p{b.pk}-move": "pursue"}
        ).status_code
        == 404
    )
    assert CycleEpisode.objects.count() == 1 and CycleMap.objects.count() == 1


def test_a_colleague_in_the_same_practice_who_does_not_treat_the_couple_gets_404(client, clinician, case):
    couple, _, _ = case
    colleague = ClinicianFactory(practice=clinician.practice)
    client.force_login(colleague.user)
    assert client.get(url("cycle_map", couple)).status_code == 404


def test_an_episode_of_another_couple_is_a_404_under_this_couples_url(client, clinician, case):
    couple, _, _ = case
    other, _, _ = couple_with_partners(clinician)
    episode = cycle.episode_record(
        actor=clinician.user, couple=other, occurred_at=timezone.now(), intensity=3
    )
    client.force_login(clinician.user)
    assert client.get(url("episode", couple, episode.pk)).status_code == 404


def test_a_signed_in_user_who_is_not_a_clinician_gets_403_and_anonymous_the_login(client, case):
    couple, _, _ = case
    assert client.get(url("cycle_map", couple)).status_code == 302
    client.force_login(UserFactory())
    assert client.get(url("cycle_map", couple)).status_code == 403


def test_a_map_of_one_partner_is_drawn_alone_without_arrows(clinician, case):
    from couples.services import partner_deactivate
    from cyclecare.workspace.cyclemap_diagram import diagram_for

    couple, a, b = case
    save_map(clinician, couple, a, b)
    partner_deactivate(user=clinician.user, partner=b)
    alone = cycle.cycle_map_save(
        user=clinician.user, couple=couple, positions=[{"partner": a, "move": "pursue"}]
    )
    diagram = diagram_for(alone)
    assert diagram.arrows == []
    assert [t.lines[0] for t in diagram.texts if t.css == "cm-name"] == ["Alex · pursues"]
    assert "Sam" not in diagram.description


def test_an_episode_seen_in_a_session_comes_with_that_session_preselected(client):
    """The note's "Record an episode seen in this session" link (?session=<id>) preselects the
    session; a session of another couple is ignored."""
    clinician = ClinicianFactory()
    couple, _a, _b = couple_with_partners(clinician)
    other, _c, _d = couple_with_partners(clinician)
    session = held_session(couple, days_ago=2)
    foreign = held_session(other, days_ago=3)
    client.force_login(clinician.user)
    url = reverse("cyclecare:clinician:episode_new", args=[couple.pk])

    page = client.get(url, {"session": session.pk}).content.decode()
    assert f'<option value="{session.pk}" selected>' in page

    page = client.get(url, {"session": foreign.pk}).content.decode()
    assert f'<option value="{foreign.pk}" selected>' not in page
    assert f'<option value="{session.pk}" selected>' not in page
    assert '<option value="" selected>No session</option>' in page
