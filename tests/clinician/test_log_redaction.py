"""Partner-link tokens never reach a log, whatever DEBUG is.

Every record is redacted as it is made (clinician.logging, installed by the clinician app), so
what reaches any handler — the project's console, whatever Django's DEFAULT_LOGGING would add
(a second console with DEBUG on, mail to the admins), runserver's access lines, gunicorn's — has
no token in it. The tests capture what reaches every handler in the logging tree."""

import datetime
import io
import logging
import re
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.servers.basehttp import WSGIRequestHandler
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone

import cyclecare.partner.views
from clinician.logging import RedactSecretsFilter, redact, redact_record
from cyclecare import services
from cyclecare.partner_access import partner_link_issue
from cyclecare.reminders.messages import stop_token_make
from tests.factories import couple_with_partners, daily_checkin, shipped_instrument

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def links(db):
    """A partner with a daily check-in, and ``links.issue(valid_for=...)`` for a fresh
    occurrence's reminder link (its token)."""
    couple, a, _ = couple_with_partners()
    instrument = shipped_instrument()
    assignment = daily_checkin(couple, [a], instrument=instrument)
    minutes = iter(range(60))

    def issue(valid_for: timedelta | None = None) -> str:
        occurrence, _ = services.occurrence_materialise(
            assignment=assignment,
            partner=a,
            local_due_date=timezone.localdate(),
            local_due_time=datetime.time(20, next(minutes)),
        )
        link = partner_link_issue(partner=a, purpose="check_in", occurrence=occurrence, valid_for=valid_for)
        return link[1]

    answers = {
        "instrument": f"{instrument.pk}:{instrument.version}",
        "cycle_showed_up": "yes",
        "my_move": "toward",
        "connection": "7",
    }
    return SimpleNamespace(partner=a, issue=issue, answers=answers)


def checkin_url(token: str) -> str:
    return reverse("cyclecare:partner:checkin", args=[token])


def every_handler() -> set[logging.Handler]:
    """The handlers of every logger in the tree, but pytest's own (caplog's)."""
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    handlers = {handler for logger in loggers for handler in logger.handlers}
    return {handler for handler in handlers if not type(handler).__module__.startswith("_pytest")}


@contextmanager
def what_every_handler_writes():
    """Every handler in the logging tree (its filters still apply) writes what it would print,
    formatted by its own formatter, to one list instead."""
    written: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for handler in every_handler():
            patch.setattr(
                handler, "emit", lambda record, handler=handler: written.append(handler.format(record))
            )
        yield written


def runserver_logs(method: str, path: str, status: int) -> None:
    """What runserver's request handler logs for a request it served (its own code, not a copy)."""
    handler = WSGIRequestHandler.__new__(WSGIRequestHandler)
    handler.request = None
    handler.requestline = f"{method} {path} HTTP/1.1"
    handler.log_request(status, 1234)


def fails_on_partner_page(monkeypatch, token: str) -> None:
    """An unexpected error on the check-in page whose message names the token (as Django's
    NoReverseMatch names a view's arguments)."""

    def broken(*, token: str):
        raise RuntimeError(f"Reverse for 'checkin' with keyword arguments {{'token': {token!r}}} not found.")

    monkeypatch.setattr(cyclecare.partner.views, "partner_link_resolve", broken)
    response = Client(raise_request_exception=False).get(checkin_url(token))
    assert response.status_code == 500


# THROUGH THE PARTNER PAGES, WITH DJANGO'S HANDLERS AS local.py HAS THEM
# ------------------------------------------------------------------------------
def test_local_settings_log_as_these_tests_do(settings):
    """The tests below run with the test settings' logging: local.py's, with DEBUG turned on."""
    from config.settings import local

    assert local.DEBUG is True
    assert local.LOGGING == settings.LOGGING
    assert not hasattr(local, "LOGGING_CONFIG")


@override_settings(DEBUG=True)
def test_no_token_reaches_any_handler_with_debug_on(links, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    valid, expired, broken = links.issue(), links.issue(valid_for=timedelta(hours=-1)), links.issue()
    with what_every_handler_writes() as written:
        expired_page = Client().get(checkin_url(expired))
        runserver_logs("GET", checkin_url(expired), expired_page.status_code)

        no_csrf_cookie = Client(enforce_csrf_checks=True).post(checkin_url(valid), links.answers)
        runserver_logs("POST", checkin_url(valid), no_csrf_cookie.status_code)

        browser = Client(enforce_csrf_checks=True)
        page = browser.get(checkin_url(valid))
        runserver_logs("GET", checkin_url(valid), page.status_code)
        csrf = CSRF_INPUT.search(page.content.decode())[1]
        bad_form = browser.post(
            checkin_url(valid), {**links.answers, "connection": "11", "csrfmiddlewaretoken": csrf}
        )
        runserver_logs("POST", checkin_url(valid), bad_form.status_code)
        submitted = browser.post(checkin_url(valid), {**links.answers, "csrfmiddlewaretoken": csrf})
        runserver_logs("POST", checkin_url(valid), submitted.status_code)

        fails_on_partner_page(monkeypatch, broken)
    assert (expired_page.status_code, no_csrf_cookie.status_code) == (410, 403)
    assert (page.status_code, bad_form.status_code, submitted.status_code) == (200, 400, 302)

    logged = "\n".join(written) + caplog.text
    for token in (valid, expired, broken):
        assert token not in logged
    for line in (
        "Gone: /p/c/[redacted]/",
        "Forbidden (CSRF cookie not set.): /p/c/[redacted]/",
        "Bad Request: /p/c/[redacted]/",
        '"POST /p/c/[redacted]/ HTTP/1.1" 302',
        "Internal Server Error: /p/c/[redacted]/",
        "RuntimeError: Reverse for 'checkin' with keyword arguments {'token': '[redacted]'}",
    ):
        assert line in logged


@override_settings(DEBUG=False, ADMINS=[("Ops", "ops@clinic.example")])
def test_no_token_is_mailed_to_the_admins(links, caplog, monkeypatch):
    """mail_admins would mail the request (its path), the traceback and its local variables:
    the project's logging has no such handler, so nothing is mailed at all."""
    token = links.issue()
    fails_on_partner_page(monkeypatch, token)
    assert "Internal Server Error: /p/c/[redacted]/" in caplog.text
    assert not [message for message in mail.outbox if token in message.subject + message.body]
    assert mail.outbox == []


# EVERY RECORD, WHATEVER ITS ARGUMENTS
# ------------------------------------------------------------------------------
@pytest.fixture
def captured():
    """Everything logged under ``cyclecare.test``, as its handler prints it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("cyclecare.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield SimpleNamespace(logger=logger, text=stream.getvalue, records=[])
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def test_records_are_redacted_whatever_their_arguments(links, captured):
    token = links.issue()
    path = checkin_url(token)
    request = RequestFactory().get(path)
    captured.logger.warning("Not Found: %s", request)  # <WSGIRequest: GET '/p/c/…/'>
    captured.logger.warning("Not Found: %r", path)
    captured.logger.info("%(method)s %(path)s", {"method": "GET", "path": path})
    captured.logger.info({"path": path})  # a message that is not a string
    captured.logger.info("link for %s opened", token)  # the bare token, no path
    captured.logger.info("bad format %d", path)  # arguments that do not fit: kept as text
    captured.logger.debug("stack at %s", path, stack_info=True)
    try:
        raise ValueError(f"no link at {path}", {"token": token})
    except ValueError:
        captured.logger.exception("failed")
    text = captured.text()
    assert token not in text
    assert text.count("/p/c/[redacted]/") >= 5
    assert "ValueError: ('no link at /p/c/[redacted]/', {'token': '[redacted]'})" in text


def test_a_record_made_elsewhere_is_redacted_by_the_filter(links):
    """Records arriving already made (logging.makeLogRecord: a queue or socket listener) bypass
    the record factory; the console's filter redacts those, traceback text included."""
    token = links.issue()
    record = logging.makeLogRecord(
        {"msg": "Gone: %s", "args": (checkin_url(token),), "exc_text": f"KeyError: '{token}'"}
    )
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        handler.handle(record)
    finally:
        handler.setStream(previous)
    assert token not in stream.getvalue()
    assert "Gone: /p/c/[redacted]/" in stream.getvalue()


def test_the_pattern_matches_every_token_the_project_issues(links):
    check_in = links.issue()
    home = partner_link_issue(partner=links.partner, purpose="home")[1]
    stop = stop_token_make(partner_id=links.partner.pk, channel="email")
    stop_url = reverse("cyclecare:reminder-stop", args=[stop])
    for token, url in (
        (check_in, checkin_url(check_in)),
        (home, reverse("cyclecare:partner:home-link", args=[home])),
        (stop, stop_url),
    ):
        for line in (
            f"Gone: {url}",
            f'"GET {url} HTTP/1.1" 410',
            f'"GET {url.rstrip("/")} HTTP/1.1" 301',  # before APPEND_SLASH's redirect
            f"{url}?utm_source=email",
            f"http://clinic.example{url}",
        ):
            assert token not in redact(line), line
    # A signed token's secret part is its signature, which is redacted even without the path.
    assert stop.rsplit(":", 1)[1] not in redact(f"stop token {stop}")


def test_ordinary_lines_are_left_alone():
    for line in (
        "Not Found: /api/v1/episodes/12/",
        'File "/srv/cyclecare/.venv/lib/python3.11/site-packages/django/core/handlers/exception.py"',
        'File "/srv/cyclecare/tests/couples/test_partner_pages_and_their_links.py", line 3',
        "api: 201 created in 12 ms",
    ):
        assert redact(line) == line
    record = logging.makeLogRecord({"msg": "100%% of %s", "args": ("/p/thanks/",)})
    assert redact_record(record).getMessage() == "100% of /p/thanks/"


# GUNICORN
# ------------------------------------------------------------------------------
def test_gunicorn_access_and_error_lines_are_redacted(links, tmp_path):
    from gunicorn.config import Config

    from config import gunicorn as gunicorn_settings

    token = links.issue()
    path = checkin_url(token)
    cfg = Config()
    for name in ("wsgi_app", "accesslog", "logger_class"):
        cfg.set(name, getattr(gunicorn_settings, name))
    assert cfg.logger_class is gunicorn_settings.RedactingLogger
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("errorlog", str(tmp_path / "error.log"))
    # Without Django's record redaction: gunicorn's lines are redacted before its app is loaded.
    make_record = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    log = cfg.logger_class(cfg)
    try:
        response = SimpleNamespace(status="200 OK", sent=512, headers=[("Content-Type", "text/html")])
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": f"{path}?from=email",
            "PATH_INFO": path,
            "QUERY_STRING": "from=email",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "203.0.113.9",
            "HTTP_REFERER": f"https://clinic.example{path}",
        }
        request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
        log.access(response, request, environ, timedelta(milliseconds=15))
        log.exception("Error handling request %s", path)
        log.setup(cfg)  # a configuration reload adds no second filter
        assert len([f for f in log.access_log.filters if isinstance(f, RedactSecretsFilter)]) == 1
    finally:
        logging.setLogRecordFactory(make_record)
        for logger in (log.error_log, log.access_log):
            for handler in list(logger.handlers):
                handler.close()
                logger.removeHandler(handler)
            logger.filters.clear()
    access = (tmp_path / "access.log").read_text()
    error = (tmp_path / "error.log").read_text()
    assert token not in access + error
    assert '"GET /p/c/[redacted]/?[redacted] HTTP/1.1" 200' in access
    assert '"https://clinic.example/p/c/[redacted]/"' in access
    assert "Error handling request /p/c/[redacted]/" in error
