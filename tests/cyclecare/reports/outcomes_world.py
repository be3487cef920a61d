"""A small hand-built practice for the outcome, caseload, cycle-trend and safety reports.

Practice P (Chicago): Avery (admin, no couples), Sam (supervisor, no couples), Casey (supervised
by Sam: couples C1 and C2, active) and Dana (D1 active, D2 paused). Practice Q: Blake, one
couple. Partner names and couple labels are distinctive, so a test can look for them in a report.
"""

import datetime
import zoneinfo
from types import SimpleNamespace

from django.utils import timezone

from clinician.models import Clinician
from cyclecare import services
from cyclecare.reports.filters import ReportFilters
from tests.factories import ClinicianFactory, PracticeFactory, couple_with_partners, shipped_instrument

ZONE = zoneinfo.ZoneInfo("America/Chicago")
SECRET_WORDS = ("Zebulon", "Quintessa", "Marigold Couple", "Thaddeus", "Ophelia", "Rosalind", "Bartholomew")


def today() -> datetime.date:
    return timezone.now().astimezone(ZONE).date()


def filters(days: int = 30, **narrowing) -> ReportFilters:
    """The last ``days`` days up to today in the practice's calendar, with any narrowing."""
    return ReportFilters(date_from=today() - datetime.timedelta(days=days - 1), date_to=today(), **narrowing)


def build_world() -> SimpleNamespace:
    practice = PracticeFactory(time_zone="America/Chicago")
    admin = ClinicianFactory(
        practice=practice, role=Clinician.Role.PRACTICE_ADMIN, display_name="Avery Admin"
    )
    supervisor = ClinicianFactory(practice=practice, role=Clinician.Role.SUPERVISOR, display_name="Sam Super")
    casey = ClinicianFactory(practice=practice, supervisor=supervisor, display_name="Casey One")
    dana = ClinicianFactory(practice=practice, display_name="Dana Two")
    c1, c1a, c1b = couple_with_partners(casey, names=("Zebulon", "Quintessa"), label="Marigold Couple")
    c2, c2a, c2b = couple_with_partners(casey, names=("Thaddeus", "Ophelia"))
    d1, d1a, d1b = couple_with_partners(dana, names=("Rosalind", "Bartholomew"))
    d2, _, _ = couple_with_partners(dana, status="paused")
    other = PracticeFactory(time_zone="America/Chicago")
    blake = ClinicianFactory(practice=other, display_name="Blake Bravo")
    other_admin = ClinicianFactory(
        practice=other, role=Clinician.Role.PRACTICE_ADMIN, display_name="Bo Admin"
    )
    q1, q1a, q1b = couple_with_partners(blake)
    return SimpleNamespace(
        practice=practice,
        admin=admin,
        supervisor=supervisor,
        casey=casey,
        dana=dana,
        c1=(c1, c1a, c1b),
        c2=(c2, c2a, c2b),
        d1=(d1, d1a, d1b),
        d2=d2,
        other=other,
        blake=blake,
        other_admin=other_admin,
        q1=(q1, q1a, q1b),
    )


def csi4_answers(total: int) -> dict[str, int]:
    """CSI-4 answers summing to ``total`` (item 1 is 0–6, the others 0–5)."""
    answers, left = {}, total
    for code, high in (("csi1", 6), ("csi12", 5), ("csi19", 5), ("csi22", 5)):
        answers[code] = min(high, left)
        left -= answers[code]
    return answers


def csi4(partner, total: int, days_ago: float, instrument=None):
    return services.checkin_submit(
        partner=partner,
        instrument=instrument or shipped_instrument("csi-4"),
        answers=csi4_answers(total),
        submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
    )


def practice_csi4(practice, *, min_partners: int = 2, reliability: float = 0.94):
    """The practice's own CSI-4 version whose reliable change takes the practice's intake SD
    from ``min_partners`` partners (the shipped one needs 20, too many for a small world)."""
    shipped = shipped_instrument("csi-4")
    rule = {**shipped.definition["reliable_change"], "min_partners": min_partners, "reliability": reliability}
    return services.instrument_create(
        practice=practice,
        code="csi-4",
        version=shipped.version + 1,
        name="CSI-4 (practice)",
        definition={**shipped.definition, "reliable_change": rule},
    )
