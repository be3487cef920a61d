"""The partner's pages: a reminder's link, the check-in, the thank-you, home, episodes, sharing.

Rules under test: GET never uses a link and a successful POST does; a link opens for its own
partner only; state pages carry no data; a partner sees their own answers and only what the
other partner shared (never private or safety items); crisis resources follow a safety answer
and only its author sees them; each partner reads their own language; tokens never reach logs.
"""

import datetime
import logging
import re
import zoneinfo
from types import SimpleNamespace

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cyclecare import services
from cyclecare.models import CheckIn, CycleEpisode
from cyclecare.partner_access import LinkState, partner_link_issue, partner_link_resolve
from tests.factories import couple_with_partners, daily_checkin, shipped_instrument

pytestmark = pytest.mark.django_db

ANSWERS = {"instrument": None, "cycle_showed_up": "yes", "my_move": "toward", "connection": "7"}
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def world():
    couple, a, b = couple_with_partners(label="Rivera & Chen", names=("Alex Rivera", "Bo Chen"))
    instrument = shipped_instrument()
    assignment = daily_checkin(couple, [a, b], instrument=instrument)
    minutes = iter(range(60))

    def link(partner):
        """A fresh occurrence for the partner and the token of its reminder link."""
        occurrence, _ = services.occurrence_materialise(
            assignment=assignment,
            partner=partner,
            local_due_date=timezone.localdate(),
            local_due_time=datetime.time(20, next(minutes)),
        )
        return partner_link_issue(partner=partner, purpose="check_in", occurrence=occurrence)[1]

    return SimpleNamespace(couple=couple, a=a, b=b, instrument=instrument, link=link)


def checkin_url(token: str) -> str:
    return reverse("cyclecare:partner:checkin", args=[token])


def answers(instrument, **overrides) -> dict:
    data = {**ANSWERS, "instrument": f"{instrument.pk}:{instrument.version}", **overrides}
    return {key: value for key, value in data.items() if value is not None}


def signed_in(partner) -> Client:
    """A browser holding the partner's session, opened the way partners get one: a home link."""
    client = Client()
    _, token = partner_link_issue(partner=partner, purpose="home")
    response = client.get(reverse("cyclecare:partner:home-link", args=[token]))
    assert response.status_code == 302 and response["Location"] == reverse("cyclecare:partner:home")
    return client


def text(response) -> str:
    return response.content.decode()


# OPENING AND SUBMITTING
# ------------------------------------------------------------------------------
def test_opening_the_link_shows_the_checkin_and_does_not_use_it(world, client):
    token = world.link(world.a)
    for _ in range(3):  # a mail scanner, the partner, the partner again
        response = client.get(checkin_url(token))
        assert response.status_code == 200
    body = text(response)
    assert "Did your cycle show up since your last check-in?" in body
    assert 'type="range"' in body and "<output" in body
    assert partner_link_resolve(token=token).state == LinkState.VALID
    assert CheckIn.objects.count() == 0


def test_submitting_saves_one_checkin_and_redirects_to_thanks(world, client):
    token = world.link(world.a)
    client.get(checkin_url(token))
    response = client.post(checkin_url(token), answers(world.instrument, share="on"))
    assert response.status_code == 302
    assert response["Location"] == reverse("cyclecare:partner:thanks")
    checkin = CheckIn.objects.get()
    assert checkin.partner == world.a and checkin.shared_with_partner
    assert checkin.answers == {"cycle_showed_up": True, "my_move": "toward", "connection": 7}

    thanks = client.get(response["Location"])
    body = text(thanks)
    assert thanks.status_code == 200 and "Thank you" in body
    assert "<svg" in body and "<title" in body and "<desc" in body and "<table" in body
    assert "If you do not feel safe" not in body


def test_a_second_post_finds_the_checkin_completed_and_saves_nothing(world, client):
    token = world.link(world.a)
    first = client.post(checkin_url(token), answers(world.instrument))
    second = client.post(checkin_url(token), answers(world.instrument, connection="2"))
    assert first.status_code == 302
    assert second.status_code == 410 and "already completed" in text(second)
    assert CheckIn.objects.count() == 1 and CheckIn.objects.get().answers["connection"] == 7
    reopened = client.get(checkin_url(token))
    assert reopened.status_code == 410 and "already completed" in text(reopened)


def test_optional_sliders_are_not_answered_unless_the_partner_moves_them(world, client):
    token = world.link(world.a)
    client.post(
        checkin_url(token), answers(world.instrument, intensity="6", intensity__skip="on", minutes="30")
    )
    assert CheckIn.objects.get().answers == {
        "cycle_showed_up": True,
        "my_move": "toward",
        "minutes": 30,
        "connection": 7,
    }


# STATE PAGES
# ------------------------------------------------------------------------------
def test_an_expired_link_is_gone_and_names_no_one(world, client):
    token = world.link(world.a)
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=73)):
        response = client.get(checkin_url(token))
        posted = client.post(checkin_url(token), answers(world.instrument))
    for page in (response, posted):
        body = text(page)
        assert page.status_code == 410 and "expired" in body
        for data in ("Alex", "Rivera", "Chen", "Bo", "cycle show up"):
            assert data not in body
    assert CheckIn.objects.count() == 0
    assert "cyclecare_partner_id" not in client.session


def test_a_forged_link_is_not_found(world, client):
    world.link(world.a)
    response = client.get(checkin_url("x" * 43))
    assert response.status_code == 404 and "This link does not work" in text(response)
    assert client.post(checkin_url("y" * 43), answers(world.instrument)).status_code == 404
    assert CheckIn.objects.count() == 0


def test_a_home_link_does_not_open_a_checkin_nor_a_checkin_link_home(world, client):
    _, home_token = partner_link_issue(partner=world.a, purpose="home")
    assert client.get(checkin_url(home_token)).status_code == 404
    checkin_token = world.link(world.a)
    assert client.get(reverse("cyclecare:partner:home-link", args=[checkin_token])).status_code == 404


def test_another_partners_session_cannot_open_the_link(world):
    token = world.link(world.a)
    browser_b = signed_in(world.b)
    response = browser_b.get(checkin_url(token))
    posted = browser_b.post(checkin_url(token), answers(world.instrument))
    for page in (response, posted):
        body = text(page)
        assert page.status_code == 403 and "This link is for someone else" in body
        for data in ("Alex", "Rivera", "Bo Chen", "cycle show up", 'csrfmiddlewaretoken" value="x'):
            assert data not in body
    assert CheckIn.objects.count() == 0
    assert browser_b.session["cyclecare_partner_id"] == world.b.pk
    assert partner_link_resolve(token=token).state == LinkState.VALID


def test_opening_a_link_starts_a_fresh_twelve_hour_session(world, client):
    client.get("/p/home/")  # an anonymous session cookie may exist before
    session = client.session
    session["unrelated"] = 1
    session.save()
    before = session.session_key
    client.get(checkin_url(world.link(world.a)))
    after = client.session
    assert after.session_key != before
    assert after["cyclecare_partner_id"] == world.a.pk
    assert after.get_expiry_age() == 12 * 60 * 60


def test_pages_that_need_a_session_say_how_to_get_one(world, client):
    for name in ("home", "thanks", "episode"):
        response = client.get(reverse(f"cyclecare:partner:{name}"))
        assert response.status_code == 403
        assert "Open the link from your latest reminder" in text(response)


def test_signing_out_ends_the_session_on_this_device(world):
    browser = signed_in(world.a)
    response = browser.post(reverse("cyclecare:partner:sign-out"))
    assert response.status_code == 200 and "You are signed out" in text(response)
    assert browser.get(reverse("cyclecare:partner:home")).status_code == 403


# WHAT A PARTNER SEES
# ------------------------------------------------------------------------------
@pytest.fixture
def private_instrument():
    """A check-in with a shareable item, a private item and a safety item."""
    return services.instrument_create(
        code="closeness-test",
        name="Closeness",
        definition={
            "items": [
                {"code": "connection", "type": "slider", "min": 0, "max": 10, "privacy": "shareable",
                 "text": {"en": "How close did you feel?"}},
                {"code": "secret", "type": "text", "required": False, "privacy": "private",
                 "text": {"en": "What do you keep to yourself?"}},
                {"code": "felt_unsafe", "type": "yes_no", "required": False, "privacy": "private",
                 "safety": True, "text": {"en": "Did you feel unsafe?"}},
            ]
        },
    )  # fmt: skip


def test_home_shows_own_answers_and_only_the_shared_shareable_answers_of_the_other(world, private_instrument):
    services.checkin_submit(
        partner=world.a,
        instrument=private_instrument,
        answers={"connection": 3, "secret": "alex-private-words"},
    )
    services.checkin_submit(
        partner=world.b,
        instrument=private_instrument,
        answers={"connection": 9, "secret": "bo-private-words", "felt_unsafe": True},
        shared_with_partner=True,
    )
    services.checkin_submit(
        partner=world.b, instrument=private_instrument, answers={"connection": 1}, shared_with_partner=False
    )
    body = text(signed_in(world.a).get(reverse("cyclecare:partner:home")))
    assert "alex-private-words" in body and "3 of 10" in body  # own answers, all of them
    assert "Shared with you by your partner" in body and "9 of 10" in body  # B's shared, shareable
    assert "bo-private-words" not in body and "What do you keep to yourself?" in body  # the question, A's own
    assert "1 of 10" not in body  # B's unshared check-in
    assert "Did you feel unsafe?" not in body  # safety items: not even one's own, never the other's
    assert "If you do not feel safe" not in body and "988" not in body


def test_the_author_alone_shares_and_unshares(world, private_instrument):
    own = services.checkin_submit(partner=world.a, instrument=private_instrument, answers={"connection": 4})
    other = services.checkin_submit(partner=world.b, instrument=private_instrument, answers={"connection": 8})
    browser = signed_in(world.a)
    share = reverse("cyclecare:partner:checkin-share", args=[own.pk])
    assert browser.post(share, {"shared": "1"}).status_code == 302
    own.refresh_from_db()
    assert own.shared_with_partner
    assert "4 of 10" in text(signed_in(world.b).get(reverse("cyclecare:partner:home")))
    browser.post(share, {"shared": "0"})
    own.refresh_from_db()
    assert not own.shared_with_partner

    response = browser.post(reverse("cyclecare:partner:checkin-share", args=[other.pk]), {"shared": "1"})
    assert response.status_code == 404
    other.refresh_from_db()
    assert not other.shared_with_partner
    assert browser.get(share).status_code == 405


# SAFETY
# ------------------------------------------------------------------------------
def test_a_safety_answer_shows_default_crisis_resources_to_its_author_only(world, client):
    token = world.link(world.a)
    client.post(checkin_url(token), answers(world.instrument, felt_unsafe="yes"))
    thanks = text(client.get(reverse("cyclecare:partner:thanks")))
    assert "If you do not feel safe" in thanks
    assert "988 Suicide &amp; Crisis Lifeline" in thanks and "1-800-799-7233" in thanks
    assert CheckIn.objects.get().safety_flags.count() == 1

    for page in ("home", "thanks"):
        body = text(signed_in(world.b).get(reverse(f"cyclecare:partner:{page}")))
        for trace in ("If you do not feel safe", "988", "afraid or unsafe", "safety"):
            assert trace not in body
    # A shares the check-in: its safety answer still goes nowhere.
    services.checkin_set_shared(partner=world.a, checkin=CheckIn.objects.get(), shared=True)
    body = text(signed_in(world.b).get(reverse("cyclecare:partner:home")))
    assert "7 of 10" in body and "afraid or unsafe" not in body and "988" not in body


def test_the_practice_crisis_resources_replace_the_defaults(world, client):
    practice = world.a.practice
    practice.crisis_resources = [{"name": "Valley Crisis Line", "contact": "555-0100"}]
    practice.save(update_fields=["crisis_resources"])
    client.post(checkin_url(world.link(world.a)), answers(world.instrument, felt_unsafe="yes"))
    thanks = text(client.get(reverse("cyclecare:partner:thanks")))
    assert "Valley Crisis Line" in thanks and "555-0100" in thanks and "988" not in thanks


def test_no_crisis_resources_without_a_safety_answer(world, client):
    client.post(checkin_url(world.link(world.a)), answers(world.instrument, felt_unsafe="no"))
    assert "If you do not feel safe" not in text(client.get(reverse("cyclecare:partner:thanks")))


# LANGUAGE
# ------------------------------------------------------------------------------
def test_each_partner_reads_their_own_language_whatever_the_browser_says(world):
    world.a.language = "es"
    world.a.save(update_fields=["language"])
    spanish = Client(HTTP_ACCEPT_LANGUAGE="en").get(checkin_url(world.link(world.a)))
    english = Client(HTTP_ACCEPT_LANGUAGE="es").get(checkin_url(world.link(world.b)))
    es, en = text(spanish), text(english)
    assert '<html lang="es">' in es and spanish["Content-Language"] == "es"
    assert "¿Apareció su ciclo desde su último registro?" in es
    assert "Enviar mi registro" in es and "Sí" in es and "Privado" in es
    assert "Did your cycle show up" not in es and "Send my check-in" not in es
    assert '<html lang="en">' in en and english["Content-Language"] == "en"
    assert "Did your cycle show up since your last check-in?" in en and "Send my check-in" in en
    assert "Apareció" not in en


def test_spanish_errors_thanks_and_crisis_resources(world):
    world.a.language = "es"
    world.a.save(update_fields=["language"])
    browser = Client()
    token = world.link(world.a)
    failed = text(browser.post(checkin_url(token), answers(world.instrument, cycle_showed_up=None)))
    assert "Por favor, responda esta pregunta." in failed
    browser.post(checkin_url(token), answers(world.instrument, felt_unsafe="yes"))
    thanks = text(browser.get(reverse("cyclecare:partner:thanks")))
    assert "Gracias" in thanks and "Línea 988 de Prevención del Suicidio y Crisis" in thanks
    assert "<title" in thanks and "Qué tan conectado" in thanks


def instrument_page(world, partner, code: str) -> str:
    """The partner's check-in page for a shipped instrument (assigned to them alone), as the
    installed definition draws it."""
    instrument = shipped_instrument(code)
    assignment = services.assignment_create(
        user=world.couple.primary_clinician.user,
        couple=world.couple,
        partners=[partner],
        kind="check_in",
        title=instrument.name,
        schedule="daily",
        local_time=datetime.time(18),
        starts_on=timezone.localdate(),
        instrument=instrument,
    )
    occurrence, _ = services.occurrence_materialise(
        assignment=assignment,
        partner=partner,
        local_due_date=timezone.localdate(),
        local_due_time=datetime.time(18),
    )
    token = partner_link_issue(partner=partner, purpose="check_in", occurrence=occurrence)[1]
    response = Client().get(checkin_url(token))
    assert response.status_code == 200
    return text(response)


def radio_labels(body: str, code: str) -> list[str]:
    return re.findall(rf'name="{code}" value="\d+"><span>([^<]+)</span>', body)


def test_hits_shows_its_answer_labels_in_the_partners_language(world):
    english = instrument_page(world, world.a, "hits")
    assert "How often does your partner physically hurt you?" in english
    assert radio_labels(english, "hurt") == [
        "1 · Never",
        "2 · Rarely",
        "3 · Sometimes",
        "4 · Fairly often",
        "5 · Frequently",
    ]
    world.b.language = "es"
    world.b.save(update_fields=["language"])
    spanish = instrument_page(world, world.b, "hits")
    assert "¿Con qué frecuencia su pareja le lastima físicamente?" in spanish
    assert radio_labels(spanish, "scream") == [
        "1 · Nunca",
        "2 · Rara vez",
        "3 · A veces",
        "4 · Con bastante frecuencia",
        "5 · Frecuentemente",
    ]
    assert "Never" not in spanish and "How often" not in spanish


def test_csi16_shows_its_instructions_and_the_published_wording(world):
    body = instrument_page(world, world.a, "csi-16")
    assert "Base your responses on your first impressions and immediate feelings about the item." in body
    assert "To what extent has your relationship met your original expectations?" in body
    assert radio_labels(body, "csi26") == ["0 · Boring", "1", "2", "3", "4", "5 · Interesting"]
    world.b.language = "es"
    world.b.save(update_fields=["language"])
    spanish = instrument_page(world, world.b, "csi-16")
    assert "Base sus respuestas en sus primeras impresiones" in spanish
    assert radio_labels(spanish, "csi1")[0] == "0 · Extremadamente infeliz"


# FORM ERRORS AND TAMPERING
# ------------------------------------------------------------------------------
def test_invalid_answers_keep_the_values_and_save_nothing(world, client):
    token = world.link(world.a)
    response = client.post(
        checkin_url(token), answers(world.instrument, cycle_showed_up=None, my_move="away", connection="6")
    )
    body = text(response)
    assert response.status_code == 400
    assert "Please answer this question." in body
    assert 'value="away" checked' in body and 'value="6"' in body
    assert 'id="error-summary"' in body and 'href="#item-cycle_showed_up"' in body
    assert CheckIn.objects.count() == 0
    assert partner_link_resolve(token=token).state == LinkState.VALID


def test_out_of_range_answers_are_refused_next_to_the_item(world, client):
    response = client.post(checkin_url(world.link(world.a)), answers(world.instrument, connection="11"))
    assert response.status_code == 400 and "Choose a value from 0 to 10." in text(response)
    assert CheckIn.objects.count() == 0


@pytest.mark.parametrize(
    "tampering",
    [
        {"instrument": "999:1"},
        {"instrument": None},
        {"is_admin": "1"},
        {"felt_unsafe__skip": "on"},
        {"connection__skip": "on"},
    ],
)
def test_tampered_or_unknown_fields_save_nothing(world, client, tampering):
    token = world.link(world.a)
    data = answers(world.instrument)
    for key, value in tampering.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    response = client.post(checkin_url(token), data)
    assert response.status_code == 400
    assert "Nothing was saved" in text(response)
    assert CheckIn.objects.count() == 0
    assert partner_link_resolve(token=token).state == LinkState.VALID


# EPISODES
# ------------------------------------------------------------------------------
def test_a_partner_logs_an_episode_on_their_own(world):
    browser = signed_in(world.a)
    form = browser.get(reverse("cyclecare:partner:episode"))
    assert form.status_code == 200
    nonce = re.search(r'name="form_nonce" value="([^"]+)"', text(form))[1]
    local = timezone.localtime(timezone.now() - datetime.timedelta(hours=2), _zone(world.a))
    data = {
        "form_nonce": nonce,
        "occurred_at": local.strftime("%Y-%m-%dT%H:%M"),
        "intensity": "6",
        "role": "i_pursued",
        "duration_minutes": "20",
        "repair_attempted": "yes",
        "repair_worked": "yes",
        "trigger": "dishes",
        "shared_with_partner": "on",
    }
    response = browser.post(reverse("cyclecare:partner:episode"), data)
    assert response.status_code == 302 and response["Location"] == reverse("cyclecare:partner:home")
    browser.post(reverse("cyclecare:partner:episode"), data)  # the same form again: a double tap
    episode = CycleEpisode.objects.get()
    assert episode.source == CycleEpisode.Source.SELF_REPORT and episode.reported_by == world.a
    assert (episode.pursuer, episode.withdrawer) == (world.a, world.b)
    assert episode.intensity == 6 and episode.repair_worked is True and episode.shared_with_partner
    assert abs(episode.occurred_at - (timezone.now() - datetime.timedelta(hours=2))) < datetime.timedelta(
        minutes=2
    )
    home = text(browser.get(reverse("cyclecare:partner:home")))
    assert "Your episode is saved." in home and "dishes" in home
    assert "You moved toward; your partner moved away." in home
    seen_by_b = text(signed_in(world.b).get(reverse("cyclecare:partner:home")))
    assert "dishes" in seen_by_b and "Your partner moved toward; you moved away." in seen_by_b


def test_an_unshared_episode_stays_with_its_author(world):
    services.episode_record(
        actor=world.a,
        couple=world.couple,
        occurred_at=timezone.now(),
        intensity=3,
        trigger="a-private-trigger",
    )
    assert "a-private-trigger" in text(signed_in(world.a).get(reverse("cyclecare:partner:home")))
    assert "a-private-trigger" not in text(signed_in(world.b).get(reverse("cyclecare:partner:home")))


def test_an_invalid_episode_keeps_its_values_and_saves_nothing(world):
    browser = signed_in(world.a)
    nonce = re.search(r'name="form_nonce" value="([^"]+)"', text(browser.get("/p/episode/")))[1]
    future = (
        (timezone.now() + datetime.timedelta(days=1)).astimezone(_zone(world.a)).strftime("%Y-%m-%dT%H:%M")
    )
    response = browser.post(
        "/p/episode/",
        {"form_nonce": nonce, "occurred_at": future, "intensity": "4", "role": "unsure", "trigger": "keep me",
         "repair_attempted": "no", "repair_worked": "yes"},
    )  # fmt: skip
    body = text(response)
    assert response.status_code == 400
    assert "An episode cannot be in the future." in body and "keep me" in body
    assert "Say a repair was tried before saying whether it helped." in body
    assert CycleEpisode.objects.count() == 0


def _zone(partner) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(partner.time_zone)


# HEADERS, CSRF AND LOGS
# ------------------------------------------------------------------------------
def test_every_partner_page_keeps_its_url_in_our_origin_uncached_and_unindexed(world, client):
    token = world.link(world.a)
    browser = signed_in(world.a)
    responses = [
        client.get(checkin_url(token)),
        client.post(checkin_url(token), answers(world.instrument)),
        client.get(reverse("cyclecare:partner:thanks")),
        client.get(checkin_url(token)),  # used
        Client().get(checkin_url("z" * 43)),  # unknown
        Client().get(reverse("cyclecare:partner:home")),  # no session
        browser.get(reverse("cyclecare:partner:home")),
        browser.get(reverse("cyclecare:partner:episode")),
    ]
    for response in responses:
        assert response["Referrer-Policy"] == "same-origin"
        assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
        assert "noindex" in response["X-Robots-Tag"]


def test_csrf_is_checked_and_refusals_are_a_plain_page(world):
    """Django's own CSRF check (the token, and Origin when the browser sends one)."""
    token = world.link(world.a)
    browser = Client(enforce_csrf_checks=True)
    csrf = CSRF_INPUT.search(text(browser.get(checkin_url(token))))[1]
    data = {**answers(world.instrument), "csrfmiddlewaretoken": csrf}
    cross_site = browser.post(checkin_url(token), data, HTTP_ORIGIN="https://evil.example")
    no_token = browser.post(checkin_url(token), answers(world.instrument))
    for refused in (cross_site, no_token):
        assert refused.status_code == 403 and "Please reload the page" in text(refused)
        assert world.a.display_name not in text(refused)
    assert CheckIn.objects.count() == 0
    accepted = browser.post(checkin_url(token), data, HTTP_ORIGIN="http://testserver")
    assert accepted.status_code == 302
    assert CheckIn.objects.count() == 1


def test_tokens_never_reach_the_logs(world, client, caplog):
    caplog.set_level(logging.DEBUG)
    valid, used, expired = world.link(world.a), world.link(world.a), world.link(world.a)
    forged = "f" * 43
    client.post(checkin_url(used), answers(world.instrument))
    other = signed_in(world.b)
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=73)):
        client.get(checkin_url(expired))
    for url in (checkin_url(valid), checkin_url(used), checkin_url(forged)):
        client.get(url)
        other.get(url)
    Client(enforce_csrf_checks=True).post(checkin_url(valid), {})  # a CSRF refusal is logged too
    logged = caplog.text + " ".join(str(record.args) for record in caplog.records)
    assert "Not Found" in logged or "Gone" in logged or "Forbidden" in logged
    for token in (valid, used, expired, forged):
        assert token not in logged
