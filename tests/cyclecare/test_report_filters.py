"""The filters a report URL carries (cyclecare.reports.filters): defaults in the practice's
calendar, and a clear message naming each bad parameter — a date that is not one, a reversed or
over-long period, a clinician outside the caller's scope or not a number, an unknown status or
instrument. Nothing else parses a report's filters."""

import datetime

import pytest

from clinician.models import Clinician
from cyclecare.reports.common import DEFAULT_PERIOD_DAYS, practice_today
from cyclecare.reports.filters import FilterError, ReportFilters, default_filters, parse_filters
from cyclecare.services import instrument_create
from tests.factories import LICENSED_DEFINITION, ClinicianFactory, PracticeFactory, shipped_instrument

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    practice = PracticeFactory(time_zone="Pacific/Auckland")
    admin = ClinicianFactory(practice=practice, role=Clinician.Role.PRACTICE_ADMIN)
    supervisor = ClinicianFactory(practice=practice, role=Clinician.Role.SUPERVISOR)
    supervisee = ClinicianFactory(practice=practice, supervisor=supervisor)
    colleague = ClinicianFactory(practice=practice)
    stranger = ClinicianFactory()  # another practice
    return {
        "admin": admin,
        "supervisor": supervisor,
        "supervisee": supervisee,
        "colleague": colleague,
        "stranger": stranger,
    }


def errors_of(params, user) -> dict[str, str]:
    with pytest.raises(FilterError) as caught:
        parse_filters(params, user=user)
    return caught.value.errors


def test_no_parameters_give_the_last_thirty_days_of_the_practices_calendar(staff):
    user = staff["admin"].user
    today = practice_today(user=user)
    filters = parse_filters({}, user=user)
    assert filters == default_filters(user=user)
    assert filters.date_to == today
    assert filters.days == DEFAULT_PERIOD_DAYS
    assert (filters.clinician, filters.status, filters.instrument) == (None, None, None)
    assert filters.query_string() == f"from={filters.date_from}&to={today}"


def test_only_from_ends_today_and_only_to_starts_thirty_days_before(staff):
    user = staff["admin"].user
    assert parse_filters({"from": "2026-01-01"}, user=user).date_to == practice_today(user=user)
    assert parse_filters({"to": "2026-01-30"}, user=user).date_from == datetime.date(2026, 1, 1)


def test_a_full_query_string_parses_and_gives_itself_back(staff):
    user = staff["admin"].user
    shipped_instrument("csi-4")
    params = {
        "from": "2026-01-01",
        "to": "2026-03-31",
        "clinician": str(staff["colleague"].pk),
        "status": "paused",
        "instrument": "csi-4",
    }
    filters = parse_filters(params, user=user)
    assert filters == ReportFilters(
        datetime.date(2026, 1, 1), datetime.date(2026, 3, 31), staff["colleague"].pk, "paused", "csi-4"
    )
    assert filters.params() == params
    assert parse_filters(filters.params(), user=user) == filters


def test_blank_values_are_no_filter(staff):
    filters = parse_filters({"clinician": " ", "status": "", "instrument": ""}, user=staff["admin"].user)
    assert (filters.clinician, filters.status, filters.instrument) == (None, None, None)


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "2026-02-30", "01/02/2026"])
def test_a_date_that_is_not_a_date_names_its_parameter(staff, value):
    user = staff["admin"].user
    assert errors_of({"from": value}, user) == {"from": "Enter a date as YYYY-MM-DD."}
    assert errors_of({"to": value}, user) == {"to": "Enter a date as YYYY-MM-DD."}


def test_a_reversed_range_is_refused(staff):
    errors = errors_of({"from": "2026-03-02", "to": "2026-03-01"}, staff["admin"].user)
    assert errors == {"from": "The first day comes after the last day."}
    one_day = parse_filters({"from": "2026-03-01", "to": "2026-03-01"}, user=staff["admin"].user)
    assert one_day.days == 1


def test_a_period_over_ten_years_is_refused_and_ten_years_is_not(staff):
    user = staff["admin"].user
    errors = errors_of({"from": "2010-01-01", "to": "2026-01-01"}, user)
    assert errors == {"from": "Choose a period of at most 10 years."}
    longest = datetime.date(2016, 1, 1) + datetime.timedelta(days=366 * 10 - 1)
    assert parse_filters({"from": "2016-01-01", "to": longest.isoformat()}, user=user).days == 3660
    over = (longest + datetime.timedelta(days=1)).isoformat()
    assert "from" in errors_of({"from": "2016-01-01", "to": over}, user)


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "7 OR 1=1"])
def test_a_clinician_that_is_not_a_number_is_refused(staff, value):
    assert errors_of({"clinician": value}, staff["admin"].user) == {
        "clinician": "Choose a clinician from the list."
    }


def test_a_clinician_outside_the_callers_scope_reads_as_unknown(staff):
    out_of_scope = "No such clinician in the caseloads you can report on."
    supervisor, admin = staff["supervisor"].user, staff["admin"].user
    # A supervisor reports on their own caseload and their supervisees', not a colleague's.
    assert parse_filters({"clinician": str(staff["supervisee"].pk)}, user=supervisor).clinician
    assert parse_filters({"clinician": str(staff["supervisor"].pk)}, user=supervisor).clinician
    assert errors_of({"clinician": str(staff["colleague"].pk)}, supervisor) == {"clinician": out_of_scope}
    # A clinician only on their own.
    clinician = staff["colleague"].user
    assert errors_of({"clinician": str(staff["supervisee"].pk)}, clinician) == {"clinician": out_of_scope}
    # Another practice's clinician, and an id nobody has, read the same for an admin.
    assert errors_of({"clinician": str(staff["stranger"].pk)}, admin) == {"clinician": out_of_scope}
    assert errors_of({"clinician": "999999"}, admin) == {"clinician": out_of_scope}


def test_an_unknown_status_is_refused_with_the_choices(staff):
    errors = errors_of({"status": "happy"}, staff["admin"].user)
    assert errors == {"status": "Choose one of: active, paused, discharged, separated."}


def test_an_unknown_or_another_practices_instrument_is_refused(staff):
    user = staff["admin"].user
    shipped_instrument("csi-4")
    instrument_create(
        practice=staff["stranger"].practice,
        code="their-measure",
        name="Theirs",
        definition=LICENSED_DEFINITION,
    )
    no_such = {"instrument": "No such instrument in this practice."}
    assert errors_of({"instrument": "csi-99"}, user) == no_such
    assert errors_of({"instrument": "their-measure"}, user) == no_such
    assert parse_filters({"instrument": "csi-4"}, user=user).instrument == "csi-4"


def test_every_bad_parameter_is_named_at_once(staff):
    errors = errors_of(
        {"from": "nope", "clinician": "x", "status": "happy", "instrument": "csi-99"}, staff["admin"].user
    )
    assert set(errors) == {"from", "clinician", "status", "instrument"}
    assert "from" in str(FilterError(errors)) and "status" in str(FilterError(errors))
