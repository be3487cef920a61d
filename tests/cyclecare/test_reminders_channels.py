"""Channels against real servers: a real SMTP server (aiosmtpd) receives the reminder and the
test follows its link; the HTTP SMS backend talks to a local provider; the file backend writes."""

import datetime
import json
import re
import socket
from urllib.parse import urlsplit

import pytest

from cyclecare.models import ReminderDelivery
from cyclecare.partner_access import LinkState, partner_link_resolve
from cyclecare.reminders import channels
from cyclecare.reminders.messages import SmsReminder
from tests.cyclecare.fake_providers import sms_provider, smtp_server
from tests.cyclecare.reminder_world import assign, at, plan, tick, travel, world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_the_minute")]
NY = "America/New_York"
Status = ReminderDelivery.Status


@pytest.fixture
def smtp(settings):
    controller, inbox = smtp_server()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()


@pytest.fixture
def provider(settings):
    seen, stop = sms_provider()
    settings.CYCLECARE = {
        **settings.CYCLECARE,
        "SMS_BACKEND": "cyclecare.reminders.channels.HttpSmsBackend",
        "SMS_HTTP_URL": seen.url,
        "SMS_HTTP_TOKEN": "provider-test-token",
        "SMS_FROM": "+15555550000",
    }
    yield seen
    stop()


def planned(**options):
    w = world(zone_a=NY, **options)
    assign(w, partners=[w.a])
    plan(at(NY, 2026, 3, 2, 12))
    return w


def today() -> ReminderDelivery:
    return ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))


# EMAIL OVER REAL SMTP
# ------------------------------------------------------------------------------
def test_a_real_smtp_server_receives_the_reminder_and_its_link_opens_the_check_in(
    smtp, client, django_capture_on_commit_callbacks
):
    w = planned()
    tick(at(NY, 2026, 3, 2, 20, 0), django_capture_on_commit_callbacks)
    tick(at(NY, 2026, 3, 2, 20, 1), django_capture_on_commit_callbacks)

    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    reminder = today()
    assert reminder.status == Status.SENT
    assert message["Message-ID"] == reminder.provider_message_id
    assert message["To"] == w.a.email
    assert w.couple.practice.name in message["From"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Rivera" not in text + html + message["Subject"]
    # Our own MIME boundary (random), and the parts it separates arrive whole.
    assert re.fullmatch(r"=+cyclecare[0-9a-f]{32}==", message.get_boundary())
    assert text.strip() and html.strip().endswith("</html>")

    url = re.search(r"http://127\.0\.0\.1:8000(/p/c/[^/\s]+/)", text)[1]
    assert url in html
    token = url.split("/")[3]
    with travel(at(NY, 2026, 3, 2, 20, 9)):
        assert partner_link_resolve(token=token).state == LinkState.VALID
        page = client.get(url)
        assert page.status_code == 200
        assert b"<form" in page.content  # the check-in itself
    # The delivery log knows the link was opened.
    assert ReminderDelivery.objects.filter(opened_at__isnull=False).count() == 1
    stop = re.search(r"http://127\.0\.0\.1:8000(/r/stop/[^/\s]+/)", text)[1]
    assert message["List-Unsubscribe"].strip() == f"<http://127.0.0.1:8000{stop}>"
    assert client.get(stop).status_code == 200


def test_an_address_the_smtp_server_refuses_fails_at_once(smtp, django_capture_on_commit_callbacks):
    w = planned()
    smtp.refuse.add(w.a.email)
    tick(at(NY, 2026, 3, 2, 20, 0), django_capture_on_commit_callbacks)
    tick(at(NY, 2026, 3, 2, 21, 0), django_capture_on_commit_callbacks)
    reminder = today()
    assert (reminder.status, reminder.attempts) == (Status.FAILED, 1)
    assert reminder.last_error == "The mail server refused the address (550)."
    assert w.a.email not in reminder.last_error and smtp.messages == []


def test_an_unreachable_smtp_server_is_retried_later(settings, django_capture_on_commit_callbacks):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    planned()
    tick(at(NY, 2026, 3, 2, 20, 0), django_capture_on_commit_callbacks)
    reminder = today()
    assert reminder.status == Status.PENDING and reminder.attempts == 1
    assert reminder.next_attempt_at == at(NY, 2026, 3, 2, 20, 1)
    assert reminder.last_error.startswith("The mail server could not be reached")


# SMS OVER HTTP
# ------------------------------------------------------------------------------
def test_the_http_sms_backend_posts_json_with_a_bearer_token_and_an_idempotency_key(
    provider, django_capture_on_commit_callbacks
):
    planned(channel_a="sms")
    tick(at(NY, 2026, 3, 2, 20, 0), django_capture_on_commit_callbacks)
    reminder = today()
    assert reminder.status == Status.SENT and reminder.provider_message_id == "SM0001"
    [request] = provider.requests
    assert request.headers["Authorization"] == "Bearer provider-test-token"
    assert request.headers["Idempotency-Key"] == f"cyclecare-reminder-{reminder.pk}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body["to"] == "+15555550101" and request.body["from"] == "+15555550000"
    assert "/p/c/" in request.body["body"] and "Rivera" not in request.body["body"]


def test_a_provider_outage_is_retried_with_the_same_key_and_sent_once(
    provider, django_capture_on_commit_callbacks
):
    planned(channel_a="sms")
    provider.statuses = [503, 502]
    tick(at(NY, 2026, 3, 2, 20, 0), django_capture_on_commit_callbacks)
    assert today().last_error == "The SMS provider answered HTTP 503; will retry."
    tick(at(NY, 2026, 3, 2, 20, 1), django_capture_on_commit_callbacks)
    tick(at(NY, 2026, 3, 2, 20, 3), django_capture_on_commit_callbacks)
    reminder = today()
    assert (reminder.status, reminder.attempts) == (Status.SENT, 3)
    assert len({r.key for r in provider.requests}) == 1 and len(provider.texts) == 1


def test_a_number_the_provider_rejects_fails_at_once_without_storing_its_answer(
    provider, django_capture_on_commit_callbacks
):
    planned(channel_a="sms")
    provider.statuses = [422]
    tick(at(NY, 2026, 3, 2, 20, 0), django_capture_on_commit_callbacks)
    tick(at(NY, 2026, 3, 2, 21, 0), django_capture_on_commit_callbacks)
    reminder = today()
    assert (reminder.status, reminder.attempts) == (Status.FAILED, 1)
    assert reminder.last_error == "The SMS provider refused the text (HTTP 422)."
    assert len(provider.requests) == 1


def test_a_resend_with_the_same_key_is_one_text_at_the_provider(provider, settings):
    message = SmsReminder(to="+15555550101", body="hello", idempotency_key="cyclecare-reminder-7")
    backend = channels.HttpSmsBackend()
    assert backend.send(message) == backend.send(message) == "SM0001"
    assert len(provider.requests) == 2 and len(provider.texts) == 1


def test_the_file_backend_writes_one_file_per_text(settings, tmp_path):
    settings.CYCLECARE = {
        **settings.CYCLECARE,
        "SMS_BACKEND": "cyclecare.reminders.channels.FileSmsBackend",
        "SMS_FILE_PATH": str(tmp_path / "sms"),
    }
    message = SmsReminder(to="+15555550101", body="hello", idempotency_key="cyclecare-reminder-9")
    assert channels.sms_send(message) == "file:cyclecare-reminder-9"
    channels.sms_send(message)
    [written] = (tmp_path / "sms").iterdir()
    assert json.loads(written.read_text())["body"] == "hello"


def test_the_console_backend_prints(capsys):
    channels.ConsoleSmsBackend().send(SmsReminder(to="+15555550101", body="hello", idempotency_key="k"))
    assert "hello" in capsys.readouterr().out


def test_urls_in_messages_point_at_the_site(settings):
    from cyclecare.reminders.messages import partner_page_url

    settings.CYCLECARE = {**settings.CYCLECARE, "SITE_URL": "https://care.example/"}
    assert (
        urlsplit(partner_page_url(purpose="check_in", token="abc")).geturl()
        == "https://care.example/p/c/abc/"
    )
    assert partner_page_url(purpose="home", token="abc") == "https://care.example/p/h/abc/"
