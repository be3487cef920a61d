"""The de-identified check-in export: what a file may hold (no name, contact, free text, safety
or clinician-only answer, no screen's scores), pseudonyms (stable within a practice, different
across practices), the small-cell rule of an export leaving the practice, the Celery job's
progress and payload checks, and the download rules (the requester only, until it expires,
audited each time) — through the service and through the pages."""

import csv
import datetime
import io
import logging
import zoneinfo
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.test import Client
from django.utils import timezone

from clinician.models import AuditEvent, Clinician
from cyclecare import services, tasks
from cyclecare.models import CheckIn, ReportExport
from cyclecare.reports import export as exports
from cyclecare.reports.filters import FilterError
from tests.factories import ClinicianFactory, PracticeFactory, couple_with_partners, shipped_instruments

pytestmark = pytest.mark.django_db

RESEARCH = {
    "items": [
        {"code": "close", "type": "likert", "min": 0, "max": 6},
        {"code": "distant", "type": "likert", "min": 0, "max": 6, "reverse": True},
        {"code": "private_q", "type": "likert", "min": 0, "max": 6, "privacy": "clinician"},
        {"code": "afraid", "type": "yes_no", "safety": True},
        {"code": "journal", "type": "text", "max_length": 200},
        {"code": "mood", "type": "choice", "options": ["calm", "tense"]},
        {"code": "slept", "type": "yes_no"},
    ],
    "total": {"items": ["close", "distant"]},
}
JOURNAL = "Journal entry: argued about money with Mo"
ZONE = "America/Chicago"


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.CYCLECARE = {**settings.CYCLECARE, "EXPORT_DIR": str(tmp_path / "exports")}
    return tmp_path / "exports"


def submit(partner, instrument, answers, *, days_ago: float):
    return services.checkin_submit(
        partner=partner,
        instrument=instrument,
        answers=answers,
        submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
    )


def research_answers(n: int, *, afraid: bool = False) -> dict:
    return {
        "close": n % 7,
        "distant": 1,
        "private_q": 5,
        "afraid": afraid,
        "journal": f"{JOURNAL} #{n}",
        "mood": "tense",
        "slept": n % 2 == 0,
    }


def build_practice(name: str, *, research_couples: int, checkin_couples: int):
    """A practice with an admin, a clinician and a colleague; ``research_couples`` couples answer
    the practice's research instrument (both partners, one check-in each), the first
    ``checkin_couples`` of them the shipped daily check-in too, and one partner a HITS screen."""
    shipped = shipped_instruments()
    practice = PracticeFactory(name=name, time_zone=ZONE)
    admin = ClinicianFactory(
        practice=practice, role=Clinician.Role.PRACTICE_ADMIN, display_name=f"{name} Admin"
    )
    robin = ClinicianFactory(practice=practice, display_name=f"{name} Robin")
    sam = ClinicianFactory(practice=practice, display_name=f"{name} Sam")
    research = services.instrument_create(
        code="research", name="Research scale", definition=RESEARCH, practice=practice
    )
    couples = []
    for n in range(research_couples):
        clinician = robin if n % 2 == 0 else sam
        couple, a, b = couple_with_partners(clinician, names=(f"Alexa Rivera{n}", f"Bo Chen{n}"))
        a.phone = f"+1555000{n:04d}"
        a.save(update_fields=["phone"])
        for partner in (a, b):
            submit(partner, research, research_answers(n, afraid=(n == 0)), days_ago=3 + n)
        if n < checkin_couples:
            submit(
                a,
                shipped["cycle-checkin"],
                {
                    "cycle_showed_up": True,
                    "my_move": "toward",
                    "intensity": 4,
                    "minutes": 20,
                    "repair_tried": True,
                    "repair_worked": False,
                    "connection": 6,
                    "felt_unsafe": n == 0,
                },
                days_ago=2,
            )
        couples.append((couple, a, b))
    hits = shipped["hits"]
    hits_answers = {item["code"]: item["max"] for item in hits.definition["items"]}
    submit(couples[0][1], hits, hits_answers, days_ago=1)
    return SimpleNamespace(
        practice=practice, admin=admin, robin=robin, sam=sam, research=research, couples=couples
    )


@pytest.fixture
def world():
    return SimpleNamespace(
        a=build_practice("Harbour", research_couples=6, checkin_couples=2),
        b=build_practice("Hillside", research_couples=5, checkin_couples=0),
    )


def request_export(clinic, *, leaving: bool = False, **params) -> ReportExport:
    return exports.report_export_request(user=clinic.admin.user, params=params, leaving_practice=leaving)


def read(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def files(export: ReportExport, export_dir) -> tuple[list[dict], list[dict]]:
    return read(export_dir / export.checkins_file), read(export_dir / export.summary_file)


# DE-IDENTIFICATION
# ------------------------------------------------------------------------------
def test_no_name_contact_free_text_or_safety_answer_reaches_the_files(world, export_dir):
    export = request_export(world.a)
    assert export.status == ReportExport.Status.DONE
    text = (export_dir / export.checkins_file).read_text() + (export_dir / export.summary_file).read_text()
    for couple, a, b in world.a.couples:
        assert couple.label not in text
        for partner in (a, b):
            assert partner.display_name not in text
            assert partner.email not in text
            assert not partner.phone or partner.phone not in text
    assert JOURNAL not in text and "Journal" not in text
    assert world.a.robin.display_name not in text and world.a.admin.display_name not in text
    rows, _ = files(export, export_dir)
    raw_ids = {str(pk) for c, a, b in world.a.couples for pk in (c.pk, a.pk, b.pk)}
    assert not raw_ids & ({r["couple_id"] for r in rows} | {r["partner_id"] for r in rows})
    columns = set(rows[0])
    assert not {"research.afraid", "research.journal", "research.private_q"} & columns
    assert "cycle-checkin.felt_unsafe" not in columns
    assert not any(column.startswith("hits") for column in columns)
    assert {row["instrument"] for row in rows} == {"research", "cycle-checkin"}  # no HITS row
    assert {"research.close", "research.distant", "research.mood", "research.slept"} <= columns
    assert {"cycle-checkin.intensity", "cycle-checkin.my_move"} <= columns


def test_a_row_carries_the_instrument_the_local_day_and_the_outsider_visible_scores(world, export_dir):
    export = request_export(world.a, instrument="research")
    rows, _ = files(export, export_dir)
    assert len(rows) == 12 and export.rows_written == 12
    couple, a, _ = world.a.couples[2]
    checkin = CheckIn.objects.get(partner=a, instrument=world.a.research)
    key = exports.practice_key(world.a.practice.pk)
    (row,) = [r for r in rows if r["partner_id"] == exports.pseudonym("partner", a.pk, key=key)]
    local_day = checkin.submitted_at.astimezone(zoneinfo.ZoneInfo(ZONE)).date()
    assert row == {
        "couple_id": exports.pseudonym("couple", couple.pk, key=key),
        "partner_id": exports.pseudonym("partner", a.pk, key=key),
        "instrument": "research",
        "instrument_version": "1",
        "local_date": local_day.isoformat(),
        "total_score": "7",  # close 2 + distant reversed (6 + 0 - 1 = 5)
        "research.close": "2",
        "research.distant": "5",
        "research.mood": "tense",
        "research.slept": "1",
    }


def test_pseudonyms_are_stable_within_a_practice_and_differ_across_practices(world, export_dir):
    first, _ = files(request_export(world.a, instrument="research"), export_dir)
    second, _ = files(request_export(world.a, instrument="research"), export_dir)
    assert [r["partner_id"] for r in first] == [r["partner_id"] for r in second]
    assert len({r["partner_id"] for r in first}) == 12 and len({r["couple_id"] for r in first}) == 6
    assert all(r["partner_id"].startswith("P-") and r["couple_id"].startswith("C-") for r in first)
    key_a, key_b = (exports.practice_key(c.practice.pk) for c in (world.a, world.b))
    assert key_a != key_b
    partner_id = world.a.couples[0][1].pk
    assert exports.pseudonym("partner", partner_id, key=key_a) != exports.pseudonym(
        "partner", partner_id, key=key_b
    )
    other, _ = files(request_export(world.b), export_dir)
    assert not {r["partner_id"] for r in first} & {r["partner_id"] for r in other}


def test_a_dedicated_key_changes_every_pseudonym(world, settings):
    partner_id = world.a.couples[0][1].pk
    before = exports.pseudonym("partner", partner_id, key=exports.practice_key(world.a.practice.pk))
    settings.CYCLECARE = {**settings.CYCLECARE, "EXPORT_PSEUDONYM_KEY": "another-key"}
    after = exports.pseudonym("partner", partner_id, key=exports.practice_key(world.a.practice.pk))
    assert before != after


def test_another_practices_checkins_never_appear(world, export_dir):
    rows, summary = files(request_export(world.b), export_dir)
    key = exports.practice_key(world.b.practice.pk)
    own = {exports.pseudonym("partner", p.pk, key=key) for _, a, b in world.b.couples for p in (a, b)}
    assert {r["partner_id"] for r in rows} == own
    # One row per month: each couple answered on one day, so the months' couples add up to 5.
    assert {r["instrument"] for r in summary} == {"research"}
    assert sum(int(r["couples"]) for r in summary) == 5


def test_filters_narrow_the_export(world, export_dir):
    robin_couples = {c.pk for c, _, _ in world.a.couples if c.primary_clinician_id == world.a.robin.pk}
    key = exports.practice_key(world.a.practice.pk)
    rows, _ = files(request_export(world.a, clinician=str(world.a.robin.pk)), export_dir)
    assert {r["couple_id"] for r in rows} == {
        exports.pseudonym("couple", pk, key=key) for pk in robin_couples
    }
    today = timezone.now().date()
    recent, _ = files(
        request_export(world.a, **{"from": str(today - datetime.timedelta(days=4))}), export_dir
    )
    assert recent and all(r["local_date"] >= str(today - datetime.timedelta(days=5)) for r in recent)
    assert len(recent) < 14
    couple = world.a.couples[1][0]
    couple.status = "paused"
    couple.save(update_fields=["status"])
    paused, _ = files(request_export(world.a, status="paused"), export_dir)
    assert {r["couple_id"] for r in paused} == {exports.pseudonym("couple", couple.pk, key=key)}


def test_bad_filters_name_each_parameter_and_create_nothing(world):
    with pytest.raises(FilterError) as caught:
        request_export(world.a, **{"from": "2026-02-30", "instrument": "nope", "clinician": "x"})
    assert set(caught.value.errors) == {"from", "instrument", "clinician"}
    with pytest.raises(FilterError) as caught:
        request_export(world.a, clinician=str(world.b.robin.pk))
    assert set(caught.value.errors) == {"clinician"}
    assert not ReportExport.objects.exists()


def test_only_a_practice_admin_exports(world):
    for clinician in (world.a.robin, world.a.sam):
        with pytest.raises(PermissionDenied):
            exports.report_export_request(user=clinician.user, params={}, leaving_practice=False)
    assert not ReportExport.objects.exists()


# SMALL CELLS
# ------------------------------------------------------------------------------
def test_leaving_the_practice_suppresses_small_cells_and_their_rows(world, export_dir):
    # Everything on one day of the previous month: one summary cell per instrument.
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(ZONE)).date()
    day = (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=15)
    CheckIn.objects.filter(practice=world.a.practice).update(
        submitted_at=datetime.datetime.combine(day, datetime.time(12), tzinfo=zoneinfo.ZoneInfo(ZONE))
    )
    period = {"from": str(day), "to": str(today)}
    inside = request_export(world.a, **period)
    rows, summary = files(inside, export_dir)
    assert {r["instrument"] for r in rows} == {"research", "cycle-checkin"}
    by_code = {r["instrument"]: r for r in summary}
    assert (by_code["cycle-checkin"]["couples"], by_code["research"]["couples"]) == ("2", "6")

    leaving = request_export(world.a, leaving=True, **period)
    rows, summary = files(leaving, export_dir)
    by_code = {r["instrument"]: r for r in summary}
    # The daily check-in: 2 couples, so "< 5" in every figure and none of its rows.
    small = by_code["cycle-checkin"]
    assert [small["couples"], small["partners"], small["checkins"], small["mean_total"]] == ["< 5"] * 4
    assert [by_code["research"][name] for name in ("couples", "partners", "checkins")] == ["6", "12", "12"]
    assert {r["instrument"] for r in rows} == {"research"}
    assert leaving.rows_written == leaving.rows_total == 12
    assert {r["local_date"] for r in rows} == {str(day.replace(day=1))}
    assert len(summary) == 2  # no total row


def test_no_row_leaving_the_practice_falls_in_a_suppressed_cell(world, export_dir):
    # Research split over two months: 3 couples in one, 3 in the other: both cells "< 5".
    zone = zoneinfo.ZoneInfo(ZONE)
    today = timezone.now().astimezone(zone).date()
    this_month, last_month = today.replace(day=1), (today.replace(day=1) - datetime.timedelta(days=1))
    for index, (couple, _, _) in enumerate(world.a.couples):
        day = this_month if index % 2 else last_month.replace(day=10)
        moment = datetime.datetime.combine(day, datetime.time(9), tzinfo=zone)
        CheckIn.objects.filter(couple=couple, instrument=world.a.research).update(submitted_at=moment)
    export = request_export(
        world.a, leaving=True, instrument="research", **{"from": str(last_month.replace(day=1))}
    )
    rows, summary = files(export, export_dir)
    assert rows == [] and export.rows_written == 0
    assert len(summary) == 2 and all(r["couples"] == "< 5" for r in summary)
    since = {"from": str(last_month.replace(day=1))}
    inside, _ = files(request_export(world.a, instrument="research", **since), export_dir)
    assert len(inside) == 12


def test_an_export_under_five_couples_leaving_the_practice_has_no_rows(world, export_dir):
    export = request_export(world.a, leaving=True, clinician=str(world.a.robin.pk))
    rows, summary = files(export, export_dir)
    assert rows == [] and export.rows_written == 0
    assert all(row["couples"] == "< 5" for row in summary)


# THE JOB
# ------------------------------------------------------------------------------
def test_a_large_export_runs_as_a_job_and_its_progress_reaches_100(
    world, export_dir, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.CYCLECARE = {
        **settings.CYCLECARE,
        "EXPORT_IN_REQUEST_MAX_ROWS": 5,
        "EXPORT_PROGRESS_EVERY": 4,
    }
    seen = []
    original_update = QuerySet.update

    def recording_update(self, **kwargs):
        if self.model is ReportExport and "rows_done" in kwargs and len(kwargs) == 1:
            seen.append(kwargs["rows_done"])
        return original_update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", recording_update)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        export = request_export(world.a)
    assert export.status == ReportExport.Status.PENDING and export.rows_total == 14
    assert export.percent == 0 and not export.checkins_file
    assert len(callbacks) == 1
    callbacks[0]()  # the task, eagerly
    export.refresh_from_db()
    assert seen == [4, 8, 12]
    assert export.status == ReportExport.Status.DONE
    assert (export.rows_done, export.rows_total, export.percent) == (14, 14, 100)
    assert export.expires_at - export.finished_at == datetime.timedelta(hours=24)
    assert len(read(export_dir / export.checkins_file)) == 14
    # Idempotent: a second delivery of the task changes nothing.
    assert tasks.report_export_build(export.pk) == ReportExport.Status.DONE


@pytest.mark.parametrize("payload", ["12", None, -3, True, {"export_id": 1}, 2.5])
def test_a_bad_task_payload_is_logged_without_its_content(payload, caplog):
    with caplog.at_level(logging.ERROR, logger="cyclecare.tasks"):
        assert tasks.report_export_build(payload) == "invalid"
    assert "bad payload" in caplog.text
    assert "export_id" not in caplog.text.replace("report_export_build", "")


def test_an_export_whose_filters_no_longer_apply_fails_with_a_reason(world, caplog):
    export = ReportExport.objects.create(
        practice=world.a.practice,
        requested_by=world.a.admin,
        filters={"from": "2026-13-01", "instrument": "gone", "clinician": "Alexa Rivera0"},
    )
    with caplog.at_level(logging.WARNING, logger="cyclecare.reports.export"):
        assert tasks.report_export_build(export.pk) == ReportExport.Status.FAILED
    export.refresh_from_db()
    assert export.status == ReportExport.Status.FAILED
    assert "clinician, from, instrument" in export.error
    assert "Alexa" not in caplog.text and "Alexa" not in export.error
    assert tasks.report_export_build(999_999) == "missing"


def test_an_export_of_someone_no_longer_admin_fails(world):
    export = ReportExport.objects.create(practice=world.a.practice, requested_by=world.a.admin, filters={})
    world.a.admin.role = Clinician.Role.CLINICIAN
    world.a.admin.save(update_fields=["role"])
    assert tasks.report_export_build(export.pk) == ReportExport.Status.FAILED
    export.refresh_from_db()
    assert "no longer export" in export.error and not export.checkins_file


def test_a_write_error_fails_the_export_without_phi_in_the_log(world, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OSError("disk full while writing Alexa Rivera0")

    monkeypatch.setattr(exports, "_write_csv", broken)
    with caplog.at_level(logging.ERROR, logger="cyclecare.reports.export"):
        export = request_export(world.a)
    assert export.status == ReportExport.Status.FAILED
    assert "OSError" in caplog.text and "Alexa" not in caplog.text and "Alexa" not in export.error


# DOWNLOADS
# ------------------------------------------------------------------------------
def signed_in(clinician) -> Client:
    client = Client()
    client.force_login(clinician.user)
    return client


def download_url(export, part="checkins") -> str:
    return f"/clinic/reports/export/{export.pk}/download/{part}/"


def test_download_by_the_requester_only_with_an_audit_event_each_time(world):
    export = request_export(world.a)
    owner = signed_in(world.a.admin)
    for part in ("checkins", "summary", "checkins"):
        response = owner.get(download_url(export, part))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert response["Content-Disposition"].startswith("attachment;")
        body = b"".join(response.streaming_content).decode()
        assert body.startswith("couple_id," if part == "checkins" else "instrument,")
    export.refresh_from_db()
    assert export.download_count == 3
    events = AuditEvent.objects.filter(action="report_export.download", target_id=str(export.pk))
    assert sorted(tuple(e.changes) for e in events) == [("checkins",), ("checkins",), ("summary",)]
    assert {e.actor_id for e in events} == {str(world.a.admin.user.pk)}

    colleague_admin = ClinicianFactory(practice=world.a.practice, role=Clinician.Role.PRACTICE_ADMIN)
    for stranger in (colleague_admin, world.a.robin, world.b.admin):
        client = signed_in(stranger)
        assert client.get(download_url(export)).status_code == 404
        assert client.get(f"/clinic/reports/export/{export.pk}/").status_code == 404
        assert client.get(f"/clinic/reports/export/{export.pk}/progress/").status_code == 404
    assert owner.get(download_url(export, "answers")).status_code == 404
    assert Client().get(download_url(export)).status_code == 302  # signed out: to sign in
    assert AuditEvent.objects.filter(action="report_export.download").count() == 3


def test_an_expired_link_is_a_410_with_a_message_and_its_file_is_purged(world, export_dir):
    export = request_export(world.a)
    ReportExport.objects.filter(pk=export.pk).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    response = signed_in(world.a.admin).get(download_url(export))
    assert response.status_code == 410
    assert "This download link has expired" in response.content.decode()
    status_page = signed_in(world.a.admin).get(f"/clinic/reports/export/{export.pk}/").content.decode()
    assert "data-export-expired" in status_page and download_url(export) not in status_page
    assert signed_in(world.b.admin).get(download_url(export)).status_code == 404
    assert not AuditEvent.objects.filter(action="report_export.download").exists()
    path = export_dir / export.checkins_file
    assert path.exists()
    assert tasks.report_exports_purge_expired() == 1
    assert not path.exists()
    export.refresh_from_db()
    assert export.checkins_file == "" and export.summary_file == ""
    assert signed_in(world.a.admin).get(download_url(export)).status_code == 410


def test_report_export_get_for_hides_other_peoples_exports(world):
    export = request_export(world.a)
    assert exports.report_export_get_for(user=world.a.admin.user, export_id=export.pk) == export
    with pytest.raises(Http404):
        exports.report_export_get_for(user=world.b.admin.user, export_id=export.pk)


# PAGES
# ------------------------------------------------------------------------------
def test_the_export_page_is_for_practice_admins(world):
    assert signed_in(world.a.robin).get("/clinic/reports/export/").status_code == 404
    page = signed_in(world.a.admin).get("/clinic/reports/export/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="leaving_practice"' in html and 'name="from"' in html
    assert "Research scale" in html and "HITS" not in html.split("Your recent exports")[0]


def test_the_form_starts_an_export_and_the_status_page_shows_100_and_links(world):
    client = signed_in(world.a.admin)
    response = client.post("/clinic/reports/export/", {"instrument": "research"})
    assert response.status_code == 302
    export = ReportExport.objects.get()
    assert response["Location"] == f"/clinic/reports/export/{export.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert 'max="12" value="12"' in page and download_url(export) in page
    progress = client.get(f"/clinic/reports/export/{export.pk}/progress/").json()
    assert progress == {
        "status": "done",
        "status_label": "Ready",
        "rows_done": 12,
        "rows_total": 12,
        "percent": 100,
        "finished": True,
        "error": "",
    }
    listing = client.get("/clinic/reports/export/").content.decode()
    assert f'data-export="{export.pk}"' in listing


def test_the_form_shows_bad_filters_on_their_fields(world):
    client = signed_in(world.a.admin)
    response = client.post("/clinic/reports/export/", {"from": "2026-03-02", "to": "2026-03-01"})
    assert response.status_code == 400
    assert "The first day comes after the last day." in response.content.decode()
    assert not ReportExport.objects.exists()


def test_a_running_export_page_refreshes_itself_without_javascript(world, settings):
    settings.CYCLECARE = {**settings.CYCLECARE, "EXPORT_IN_REQUEST_MAX_ROWS": 1}
    client = signed_in(world.a.admin)
    client.post("/clinic/reports/export/", {})
    export = ReportExport.objects.get()
    assert export.status == ReportExport.Status.PENDING  # on_commit never ran: a test transaction
    page = client.get(f"/clinic/reports/export/{export.pk}/").content.decode()
    assert '<meta http-equiv="refresh"' in page and "report_export.js" in page
    assert 'value="0"' in page
