"""The pages of a partner's records, their erasure and the practice's retention: linked from
the couple's settings, the treating clinician (or their supervisor) only — anyone else 404 —
typed confirmation and undo for erasure, and the partner's single-use download page."""

import datetime
import io
import re
import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone

from clinician.models import AuditEvent, Clinician
from couples import services as couple_services
from couples.models import PartnerErasure
from cyclecare.models import RecordExport, RecordRelease, RetentionPolicy
from tests.factories import ClinicianFactory, couple_with_partners, held_session

pytestmark = pytest.mark.django_db


def records_url(couple, partner) -> str:
    return reverse("cyclecare:clinician:partner_records", args=[couple.pk, partner.pk])


def erase_url(couple, partner) -> str:
    return reverse("cyclecare:clinician:partner_erasure", args=[couple.pk, partner.pk])


@pytest.fixture
def world(client):
    supervisor = ClinicianFactory(role=Clinician.Role.SUPERVISOR)
    clinician = ClinicianFactory(
        practice=supervisor.practice, supervisor=supervisor, display_name="Dr Okafor"
    )
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen", names=("Alex", "Sam"))
    session = held_session(couple)
    note = couple_services.note_create(
        user=clinician.user, session=session, data="Joint text for release", assessment="a", plan="p"
    )
    note = couple_services.note_sign(user=clinician.user, note=note)
    admin = ClinicianFactory(practice=clinician.practice, role=Clinician.Role.PRACTICE_ADMIN)
    colleague = ClinicianFactory(practice=clinician.practice)
    stranger = ClinicianFactory()
    client.force_login(clinician.user)
    return locals()


def test_the_settings_page_links_each_partners_records_and_erasure(client, world):
    couple, a, b = world["couple"], world["a"], world["b"]
    page = client.get(reverse("cyclecare:clinician:couple_settings", args=[couple.pk])).text
    for partner in (a, b):
        assert records_url(couple, partner) in page and erase_url(couple, partner) in page
    assert "Prepare records for Alex" in page
    # The practice admin manages the couple's settings but not its clinical record: no links.
    client.force_login(world["admin"].user)
    page = client.get(reverse("cyclecare:clinician:couple_settings", args=[couple.pk])).text
    assert records_url(couple, a) not in page and erase_url(couple, a) not in page


def test_preparing_releases_the_ticked_note_and_shows_the_link_once(client, world):
    couple, a, note = world["couple"], world["a"], world["note"]
    page = client.get(records_url(couple, a))
    assert page.status_code == 200 and f'value="{note.pk}"' in page.text

    answer = client.post(records_url(couple, a), {"notes": [note.pk]})
    assert answer.status_code == 200
    link = re.search(r'id="records-link"[^>]*value="([^"]+)"', answer.text).group(1)
    assert "/p/r/" in link
    assert RecordRelease.objects.filter(partner=a, target_id=note.pk, withdrawn_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action="record.release").count() == 1
    assert AuditEvent.objects.filter(action="record.prepare").count() == 1
    # The link is not shown again.
    assert link not in client.get(records_url(couple, a)).text

    partner_page = client.get(link[link.index("/p/r/") :])
    assert partner_page.status_code == 200 and "Download my records" in partner_page.text


def test_a_note_of_another_couple_is_refused(client, world):
    other, _, _ = couple_with_partners(world["clinician"])
    foreign = couple_services.note_sign(
        user=world["clinician"].user,
        note=couple_services.note_create(
            user=world["clinician"].user, session=held_session(other), data="x", assessment="a", plan="p"
        ),
    )
    answer = client.post(records_url(world["couple"], world["a"]), {"notes": [foreign.pk]})
    assert answer.status_code == 400
    assert not RecordExport.objects.exists() and not RecordRelease.objects.exists()


@pytest.mark.parametrize("who", ["admin", "colleague", "stranger"])
def test_anyone_but_the_treating_clinician_gets_404(client, world, who):
    couple, a = world["couple"], world["a"]
    client.force_login(world[who].user)
    for url in (records_url(couple, a), erase_url(couple, a)):
        assert client.get(url).status_code == 404
        assert client.post(url, {"action": "erase", "confirmation": "Alex"}).status_code == 404
    assert not RecordExport.objects.exists() and not PartnerErasure.objects.exists()


def test_the_supervisor_may_and_a_partner_of_another_couple_is_404(client, world):
    couple, a = world["couple"], world["a"]
    client.force_login(world["supervisor"].user)
    assert client.get(records_url(couple, a)).status_code == 200
    _, elsewhere, _ = couple_with_partners(world["clinician"])
    assert client.get(records_url(couple, elsewhere)).status_code == 404
    assert client.get(erase_url(couple, elsewhere)).status_code == 404


def test_erasure_asks_for_the_typed_name_then_can_be_undone(client, world):
    couple, a = world["couple"], world["a"]
    wrong = client.post(erase_url(couple, a), {"action": "erase", "confirmation": "alex"})
    assert wrong.status_code == 400 and "nothing was erased" in wrong.text
    a.refresh_from_db()
    assert a.display_name == "Alex"

    done = client.post(erase_url(couple, a), {"action": "erase", "confirmation": "Alex"}, follow=True)
    a.refresh_from_db()
    assert a.display_name == f"Erased partner {a.pk}" and a.email == ""
    assert "Undo the erasure" in done.text

    undone = client.post(erase_url(couple, a), {"action": "undo"}, follow=True)
    a.refresh_from_db()
    assert a.display_name == "Alex" and "The erasure is undone" in undone.text


def test_after_the_window_the_page_says_why_it_cannot_be_undone(client, world):
    couple, a = world["couple"], world["a"]
    erasure = couple_services.partner_erase(user=world["clinician"].user, partner=a)
    PartnerErasure.objects.filter(pk=erasure.pk).update(
        erased_at=timezone.now() - datetime.timedelta(hours=30),
        undo_until=timezone.now() - datetime.timedelta(hours=6),
    )
    page = client.get(erase_url(couple, a))
    assert "Undo the erasure" not in page.text and "The erasure is final" in page.text
    refused = client.post(erase_url(couple, a), {"action": "undo"})
    assert refused.status_code == 400
    a.refresh_from_db()
    assert a.display_name == f"Erased partner {a.pk}"


def test_the_practice_admin_sets_retention_and_nobody_else_opens_it(client, world):
    url = reverse("cyclecare:clinician:practice_retention")
    assert client.get(url).status_code == 404  # the treating clinician is not the admin
    client.force_login(world["admin"].user)
    assert url in client.get(reverse("cyclecare:clinician:practice")).text
    page = client.get(url)
    assert page.status_code == 200 and 'value="365"' in page.text
    values = dict(RetentionPolicy.DEFAULTS, webhook_log_days=30)
    bad = client.post(url, dict(values, draft_note_days=3))
    assert bad.status_code == 400 and not RetentionPolicy.objects.exists()
    saved = client.post(url, values, follow=True)
    assert "retention settings are saved" in saved.text
    assert RetentionPolicy.objects.get(practice=world["clinician"].practice).webhook_log_days == 30


# THE PARTNER'S DOWNLOAD PAGE
# ------------------------------------------------------------------------------
@pytest.fixture
def download(client, world):
    client.force_login(world["clinician"].user)
    answer = client.post(records_url(world["couple"], world["a"]), {"notes": []})
    link = re.search(r'id="records-link"[^>]*value="([^"]+)"', answer.text).group(1)
    client.logout()
    return link[link.index("/p/r/") :]


def test_the_partner_downloads_once_and_a_second_time_is_410(client, world, download):
    opened = client.get(download)
    assert opened.status_code == 200 and "This link works once." in opened.text
    assert not RecordExport.objects.filter(downloaded_at__isnull=False).exists()  # GET uses nothing

    got = client.post(download)
    assert got.status_code == 200 and got["Content-Type"] == "application/zip"
    assert "attachment" in got["Content-Disposition"]
    files = zipfile.ZipFile(io.BytesIO(got.content))
    assert files.read("records.pdf").startswith(b"%PDF")
    assert "Joint text for release" not in files.read("records.json").decode()

    for method in (client.get, client.post):
        again = method(download)
        assert again.status_code == 410 and "already downloaded" in again.text
        assert "Alex" not in again.text
    assert AuditEvent.objects.filter(action="record.download").count() == 1


def test_an_expired_or_unknown_download_link_shows_nothing(client, world, download):
    RecordExport.objects.update(
        created_at=timezone.now() - datetime.timedelta(days=4),
        expires_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    expired = client.get(download)
    assert expired.status_code == 410 and "expired" in expired.text and "Alex" not in expired.text
    assert client.post(download).status_code == 410
    assert client.get("/p/r/not-a-real-token/").status_code == 404
    assert not AuditEvent.objects.filter(action="record.download").exists()


def test_the_link_can_be_emailed_to_a_partner_who_consented(client, world, mailoutbox):
    couple, a = world["couple"], world["a"]
    refused = client.post(records_url(couple, a), {"email_link": "on"})
    assert refused.status_code == 200 and "No consent to email is recorded" in refused.text
    assert mailoutbox == []

    couple_services.consent_record(
        actor=world["clinician"].user, partner=a, kind="email", granted=True, method="written"
    )
    answer = client.post(records_url(couple, a), {"email_link": "on"})
    link = re.search(r'id="records-link"[^>]*value="([^"]+)"', answer.text).group(1)
    assert f"The link was emailed to {a.email}" in answer.text
    (message,) = mailoutbox
    assert message.to == [a.email] and link in message.body and "Joint text" not in message.body
    assert message.extra_headers["List-Unsubscribe"].startswith("<http")
    assert AuditEvent.objects.filter(action="record.link_emailed").count() == 1


def test_the_download_page_speaks_the_partners_language(client, world, download):
    world["a"].__class__.objects.filter(pk=world["a"].pk).update(language="es")
    page = client.get(download)
    assert page.status_code == 200 and "Descargar mis registros" in page.text
    client.post(download)
    assert "Estos registros ya se descargaron" in client.get(download).text
