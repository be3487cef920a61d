"""The report pages (/clinic/reports/…): who may open them and what each role sees, bad filters
(a 400 with each message beside its field, and no report computed), the chart, the table, the
notes and the freshness line, the CSV download (streamed, filtered like the page, formula-safe,
audited), and the links from the navigation and the practice admin's first screen."""

import csv
import datetime
import io
import re
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from clinician.models import AuditEvent
from cyclecare.partner_access import partner_link_issue
from cyclecare.reports.registry import REPORTS
from cyclecare.reports.rollups import refresh_rollups
from tests.factories import build_practice_world, held_session

pytestmark = pytest.mark.django_db

INDEX = reverse("cyclecare:clinician:reports")
PRACTICE = reverse("cyclecare:clinician:practice")
PERIOD = {"from": "2020-01-01", "to": "2029-12-31"}  # every held session of the world


def page_url(key: str) -> str:
    return reverse("cyclecare:clinician:report", args=[key])


def csv_url(key: str) -> str:
    return reverse("cyclecare:clinician:report_csv", args=[key])


def as_user(clinician) -> Client:
    client = Client()
    client.force_login(clinician.user)
    return client


def text(response) -> str:
    return response.content.decode()


def table_names(response) -> list[str]:
    """The first cell of each row of the report's table (the clinician, or Total)."""
    body = text(response)
    table = body[body.index('class="data-table report-table"') :]
    table = table[: table.index("</table>")]
    return re.findall(r'<th scope="row">([^<]*)</th>', table)


def streamed_csv(response) -> list[list[str]]:
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def world():
    return build_practice_world("alpha")


@pytest.fixture
def other():
    return build_practice_world("bravo")


# WHO SEES WHAT
# ------------------------------------------------------------------------------
@pytest.mark.parametrize("report", REPORTS, ids=lambda report: report.key)
def test_every_report_page_renders_for_every_role(world, report):
    for member in (world.admin, world.supervisor, world.clinician, world.outsider):
        response = as_user(member).get(page_url(report.key))
        assert response.status_code == 200, (member.role, report.key)
        body = text(response)
        assert escape(str(report.title)) in body and escape(str(report.description)) in body
        assert "Live figures" in body
        if response.context["table"]:
            for _field, label in report.columns:
                assert escape(str(label)) in body
        else:
            assert "Nothing to report for these filters." in body


def test_each_role_sees_its_own_scope_on_the_caseload(world, other):
    admin = table_names(as_user(world.admin).get(page_url("caseload")))
    assert admin == ["alpha admin", "alpha assoc", "alpha clin", "alpha colleague", "alpha sup", "Total"]
    supervisor = table_names(as_user(world.supervisor).get(page_url("caseload")))
    assert supervisor == ["alpha assoc", "alpha clin", "alpha sup", "Total"]
    assert table_names(as_user(world.clinician).get(page_url("caseload"))) == ["alpha clin", "Total"]
    # Another practice's admin sees none of this one.
    assert "alpha" not in text(as_user(other.admin).get(page_url("caseload")))


def test_the_figures_are_the_callers_scope_and_name_no_couple_or_partner(world):
    held_session(world.couples[0].couple)
    response = as_user(world.clinician).get(page_url("caseload"), PERIOD)
    total = response.context["figures"]["total"]
    assert total["active_couples"] == 1 and total["sessions_held"] == 2
    body = text(response)
    for case in world.couples:
        assert case.couple.label not in body
        assert case.a.display_name not in body and case.b.display_name not in body


def test_the_clinician_choice_lists_only_the_caseloads_in_scope(world):
    body = text(as_user(world.supervisor).get(page_url("caseload")))
    select = body[body.index('name="clinician"') : body.index("</select>")]
    assert "alpha clin" in select and "alpha sup" in select and "alpha assoc" in select
    assert "alpha colleague" not in select and "alpha admin" not in select


def test_anonymous_visitors_sign_in_first_and_partners_never_see_a_report(world):
    for url in (INDEX, page_url("caseload"), csv_url("caseload")):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    partner = Client()
    _, token = partner_link_issue(partner=world.couples[0].a, purpose="home")
    assert partner.get(reverse("cyclecare:partner:home-link", args=[token])).status_code == 302
    for url in (INDEX, page_url("caseload"), csv_url("caseload")):
        response = partner.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_a_signed_in_user_who_is_not_a_clinician_is_refused(world, django_user_model):
    user = django_user_model.objects.create_user(username="staff-only", password="pw-for-tests-only")
    client = Client()
    client.force_login(user)
    assert client.get(page_url("caseload")).status_code == 403
    assert client.get(csv_url("caseload")).status_code == 403


def test_an_unknown_report_is_not_found(world):
    client = as_user(world.admin)
    assert client.get(page_url("notes")).status_code == 404
    assert client.get(csv_url("notes")).status_code == 404


# FILTERS
# ------------------------------------------------------------------------------
def test_the_form_shows_the_filters_the_report_honours_filled_in(world):
    response = as_user(world.admin).get(page_url("caseload"), {**PERIOD, "clinician": world.clinician.pk})
    body = text(response)
    assert 'name="from" value="2020-01-01"' in body and 'name="to" value="2029-12-31"' in body
    assert f'<option value="{world.clinician.pk}" selected>alpha clin</option>' in body
    assert 'name="status"' in body and 'name="instrument"' not in body
    safety = text(as_user(world.admin).get(page_url("safety")))
    assert 'name="from"' in safety and 'name="status"' not in safety and 'name="instrument"' not in safety
    outcomes = text(as_user(world.admin).get(page_url("outcomes")))
    assert 'name="instrument"' in outcomes and 'name="from"' in outcomes


def test_a_clinician_filter_narrows_the_table_and_the_csv_link_carries_it(world):
    held_session(world.couples[0].couple)
    params = {**PERIOD, "clinician": world.clinician.pk}
    response = as_user(world.admin).get(page_url("caseload"), params)
    assert table_names(response) == ["alpha clin", "Total"]
    assert "Clinician: <strong>alpha clin</strong>" in text(response)
    link = f"{csv_url('caseload')}?from=2020-01-01&amp;to=2029-12-31&amp;clinician={world.clinician.pk}"
    assert link in text(response)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from", "The first day comes after the last day."),
        ({"from": "2000-01-01", "to": "2026-03-01"}, "from", "Choose a period of at most 10 years."),
        ({"to": "31/12/2026"}, "to", "Enter a date as YYYY-MM-DD."),
        ({"clinician": "abc"}, "clinician", "Choose a clinician from the list."),
    ],
)
def test_bad_filters_are_a_400_with_the_message_beside_the_field_and_no_report(world, params, field, message):
    with mock.patch("cyclecare.reports.registry.caseload_report") as compute:
        response = as_user(world.admin).get(page_url("caseload"), params)
        download = as_user(world.admin).get(csv_url("caseload"), params)
    assert response.status_code == 400 and download.status_code == 400
    compute.assert_not_called()
    body = text(response)
    assert "These filters cannot run" in body
    assert f'<p class="field-error" id="id_{field}-error">{message}</p>' in body
    assert 'aria-invalid="true"' in body
    assert "Download CSV" not in body and "report-table" not in body
    assert not AuditEvent.objects.filter(action__startswith="report.").exists()


def test_a_colleagues_caseload_is_out_of_a_clinicians_scope(world):
    response = as_user(world.clinician).get(page_url("caseload"), {"clinician": world.supervisor.pk})
    assert response.status_code == 400
    assert "No such clinician in the caseloads you can report on." in text(response)


def test_an_unknown_instrument_is_refused_on_the_outcomes(world):
    response = as_user(world.admin).get(page_url("outcomes"), {"instrument": "csi-99"})
    assert response.status_code == 400
    assert "No such instrument in this practice." in text(response)


def test_the_notes_and_the_freshness_the_report_gives_are_shown(world):
    refresh_rollups()
    body = text(as_user(world.admin).get(page_url("engagement")))
    # Engagement reads the rollups: as of their last refresh, with how its figures are counted.
    assert "the median is estimated from time bands" in body and "Figures as of" in body
    rolled_up = {
        "rows": [],
        "totals": [],
        "notes": ["Reliable change for csi-4: computed from this practice's intake baseline."],
        "fresh_at": datetime.datetime(2026, 3, 1, 18, 0, tzinfo=datetime.UTC),
    }
    with mock.patch("cyclecare.reports.registry.outcomes_report", return_value=rolled_up):
        body = text(as_user(world.admin).get(page_url("outcomes")))
    # In the practice's time zone (Chicago).
    assert "Figures as of 1 Mar 2026, 12:00" in body and "Live figures" not in body
    assert escape("Reliable change for csi-4: computed from this practice's intake baseline.") in body
    assert "Nothing to report for these filters." in body


# CHART
# ------------------------------------------------------------------------------
def test_the_chart_and_its_data_table_are_drawn_from_the_rows(world):
    response = as_user(world.admin).get(page_url("caseload"))
    chart = response.context["chart"]
    assert chart.chart_id == "chart-caseload"
    assert [row[0] for row in chart.table_rows] == [
        "alpha admin",
        "alpha assoc",
        "alpha clin",
        "alpha colleague",
        "alpha sup",
    ]
    assert [row[1] for row in chart.table_rows] == ["0", "1", "1", "0", "0"]
    body = text(response)
    # Drawn for a desk and for a phone (the stylesheet shows one): two bars in each.
    assert '<svg class="chart-svg chart-svg--wide"' in body
    assert '<svg class="chart-svg chart-svg--compact chart-svg--phone"' in body
    assert body.count('role="img"') == 2 and body.count('class="bar"') == 4


# CSV
# ------------------------------------------------------------------------------
def test_the_csv_streams_the_pages_rows_under_the_same_filters(world):
    held_session(world.couples[0].couple)
    params = {**PERIOD, "clinician": world.clinician.pk}
    response = as_user(world.admin).get(csv_url("caseload"), params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="caseload-2020-01-01-to-2029-12-31.csv"'
    rows = streamed_csv(response)
    assert rows[0][:3] == ["Clinician", "Active couples", "Paused couples"]
    assert [row[0] for row in rows[1:]] == ["alpha clin", "Total"]
    assert rows[1][1:] == rows[2][1:]  # one caseload: its total is its row
    header = dict(zip(rows[0], rows[1], strict=True))
    assert header["Active couples"] == "1" and header["Sessions held"] == "2"


def test_the_csv_is_the_callers_scope(world):
    rows = streamed_csv(as_user(world.supervisor).get(csv_url("caseload")))
    assert [row[0] for row in rows[1:]] == ["alpha assoc", "alpha clin", "alpha sup", "Total"]


def test_csv_cells_cannot_run_as_spreadsheet_formulas(world):
    world.clinician.display_name = "=HYPERLINK(1)"
    world.clinician.save(update_fields=["display_name"])
    rows = streamed_csv(as_user(world.admin).get(csv_url("caseload")))
    assert "'=HYPERLINK(1)" in [row[0] for row in rows]
    assert "=HYPERLINK(1)" not in [row[0] for row in rows]


def test_a_reports_csv_is_named_by_its_period(world):
    response = as_user(world.admin).get(csv_url("outcomes"), PERIOD)
    assert response["Content-Disposition"] == 'attachment; filename="outcomes-2020-01-01-to-2029-12-31.csv"'
    assert streamed_csv(response)[0][:2] == ["Clinician", "Instrument"]


def test_each_download_is_audited_with_the_filter_names_only(world):
    params = {**PERIOD, "clinician": world.clinician.pk}
    b"".join(as_user(world.admin).get(csv_url("caseload"), params).streaming_content)
    event = AuditEvent.objects.get(action="report.caseload.csv_download")
    assert event.actor_id == str(world.admin.user.pk)
    assert (event.target_type, event.target_id) == ("clinician.practice", str(world.practice.pk))
    assert event.changes == ["clinician", "from", "to"]
    assert not AuditEvent.objects.filter(action__startswith="report.", actor_id=str(world.clinician.user.pk))
    as_user(world.admin).get(page_url("caseload"), params)  # viewing the page is not a download
    assert AuditEvent.objects.filter(action__startswith="report.").count() == 1


# LINKS
# ------------------------------------------------------------------------------
def test_the_index_lists_every_report_with_its_description(world):
    body = text(as_user(world.clinician).get(INDEX))
    for report in REPORTS:
        assert f'href="{page_url(report.key)}"' in body and escape(str(report.description)) in body


def test_the_navigation_links_the_reports_for_every_clinician(world):
    for member in (world.admin, world.supervisor, world.clinician):
        body = text(as_user(member).get(reverse("cyclecare:clinician:caseload")))
        nav = body[body.index('class="site-nav"') : body.index("</nav>")]
        assert f'href="{INDEX}"' in nav


def test_the_practice_page_links_each_report_page_and_no_json(world):
    body = text(as_user(world.admin).get(PRACTICE))
    for report in REPORTS:
        assert f'href="{page_url(report.key)}"' in body
    assert "/api/v1/reports/" not in body


def test_a_report_shows_its_second_tables_and_says_when_one_is_empty(world):
    refresh_rollups()
    delivery = text(as_user(world.admin).get(page_url("delivery")))
    assert 'data-report-more="channels"' in delivery
    # Nothing failed or was held in this world: said in words, not an empty table.
    assert 'data-report-more-empty="failed_by_reason"' in delivery
    assert 'data-report-more-empty="held_by_reason"' in delivery
    trends = text(as_user(world.admin).get(page_url("cycle-trends")))
    assert 'data-report-more="stages"' in trends and "De-escalation" in trends
