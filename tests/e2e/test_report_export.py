"""A practice admin exports de-identified check-ins in a real browser, at 1280 and 360 px.

The export is larger than EXPORT_IN_REQUEST_MAX_ROWS (lowered here), so it is queued for Celery.
The job is held (the task's ``delay`` records the id) until the status page shows it waiting
with an empty progress bar; the test then runs the job as a worker would, in this thread, while
the page polls its JSON status URL: the bar reaches 100% without a reload by hand, the page shows
the download links, and the download is the CSV (pseudonyms, no names), audited.

Screenshots: test-artifacts/report-export-*.png.
"""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinician.models import AuditEvent, Clinician
from cyclecare import services, tasks
from cyclecare.models import ReportExport
from tests.factories import ClinicianFactory, PracticeFactory, couple_with_partners, shipped_instruments

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIZES = {"1280": {"width": 1280, "height": 800}, "360": {"width": 360, "height": 740}}


@pytest.fixture
def clinic(settings, tmp_path):
    settings.CYCLECARE = {
        **settings.CYCLECARE,
        "EXPORT_DIR": str(tmp_path / "exports"),
        "EXPORT_IN_REQUEST_MAX_ROWS": 3,
        "EXPORT_PROGRESS_EVERY": 2,
    }
    csi4 = shipped_instruments()["csi-4"]
    practice = PracticeFactory(name="Harbour Couples Clinic")
    admin = ClinicianFactory(practice=practice, role=Clinician.Role.PRACTICE_ADMIN, display_name="Dana Admin")
    robin = ClinicianFactory(practice=practice, display_name="Robin Okafor")
    partners = []
    for n in range(3):
        _, a, b = couple_with_partners(robin, names=(f"Alex Rivera {n}", f"Bo Chen {n}"))
        for partner in (a, b):
            services.checkin_submit(
                partner=partner,
                instrument=csi4,
                answers={"csi1": 3, "csi12": 3, "csi19": 4, "csi22": 2},
                submitted_at=timezone.now() - datetime.timedelta(days=2),
            )
        partners += [a, b]
    return {"practice": practice, "admin": admin, "partners": partners}


@pytest.fixture
def held_jobs(monkeypatch):
    """The export task's ``delay`` records the ids instead of running them (a worker not yet
    started); the test runs them when it chooses."""
    queued: list[int] = []
    monkeypatch.setattr(tasks.report_export_build, "delay", queued.append)
    return queued


@pytest.mark.parametrize("size", list(SIZES))
def test_admin_runs_a_large_export_to_100_and_downloads_it(
    page, login_as, clinic, held_jobs, artifacts_dir, size
):
    page.set_viewport_size(SIZES[size])
    login_as(clinic["admin"].user)
    page.goto("/clinic/practice/")
    page.get_by_role("link", name="Export check-ins (de-identified)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Export check-ins (de-identified)")
    page.get_by_label("Instrument").select_option("csi-4")
    page.screenshot(path=str(artifacts_dir / f"report-export-form-{size}.png"), full_page=True)
    if size == "360":
        assert page.evaluate("document.documentElement.scrollWidth") <= SIZES["360"]["width"]
    page.get_by_role("button", name="Start export").click()

    # Queued: the bar is empty and the page polls.
    expect(page).to_have_url(re.compile(r"/clinic/reports/export/\d+/$"))
    export = ReportExport.objects.get()
    assert held_jobs == [export.pk] and export.rows_total == 6
    bar = page.locator("progress")
    expect(bar).to_have_attribute("value", "0")
    expect(page.get_by_text("Waiting to start")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / f"report-export-waiting-{size}.png"), full_page=True)

    # The worker runs the job; the page's polling carries the bar to 100% and shows the links.
    assert tasks.report_export_build(held_jobs[0]) == ReportExport.Status.DONE
    download = page.get_by_role("link", name="Check-ins (CSV)")
    expect(download).to_be_visible(timeout=15_000)
    expect(bar).to_have_attribute("value", "6")
    expect(bar).to_have_attribute("max", "6")
    expect(page.locator("[data-export-percent]")).to_have_text("100")
    page.screenshot(path=str(artifacts_dir / f"report-export-done-{size}.png"), full_page=True)
    if size == "360":
        assert page.evaluate("document.documentElement.scrollWidth") <= SIZES["360"]["width"]

    with page.expect_download() as caught:
        download.click()
    csv_text = open(caught.value.path(), encoding="utf-8").read()
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("couple_id,partner_id,instrument,instrument_version,local_date,total_score")
    assert len(lines) == 7 and all(line.split(",")[1].startswith("P-") for line in lines[1:])
    for partner in clinic["partners"]:
        assert partner.display_name not in csv_text and partner.email not in csv_text
    assert AuditEvent.objects.filter(action="report_export.download", target_id=str(export.pk)).count() == 1

    # The admin's list of recent exports shows it ready.
    page.goto("/clinic/reports/export/")
    expect(page.locator(f'tr[data-export="{export.pk}"]')).to_contain_text("Ready")
