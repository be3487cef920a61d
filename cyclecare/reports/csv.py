"""Reports as CSV: one rule for a safe cell, and a report's rows streamed line by line.

A spreadsheet program runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula (CSV injection, OWASP). A clinician's display name is typed by
people, so every text cell that starts with one of them is written with a leading apostrophe,
which spreadsheets show as text. Numbers stay numbers (a negative mean change is a number, not
text). The API's CSV renderer and the pages' downloads both write cells through ``csv_cell``.
"""

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from clinician.audit import Surface, audit_context, audit_record
from clinician.models import Practice
from clinician.permissions import practice_id_of

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: empty for None, text that a spreadsheet would run as a formula
    prefixed with an apostrophe, anything else as it is."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Line:
    """A file-like object whose write() hands back the line the csv writer wrote."""

    def write(self, line: str) -> str:
        return line


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The header line, then one line per row (CRLF line ends, every cell through csv_cell):
    a generator, so a StreamingHttpResponse sends each line as it is written."""
    writer = csv.writer(_Line(), lineterminator="\r\n")
    yield writer.writerow([csv_cell(str(label)) for label in header])
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def report_rows(figures: dict[str, Any], fields: Sequence[str]) -> Iterator[list[Any]]:
    """A report's rows, then its total when it has one, as lists of ``fields``' values."""
    for row in figures.get("rows", ()):
        yield [row.get(field) for field in fields]
    if figures.get("total"):
        yield [figures["total"].get(field) for field in fields]


def report_csv(*, user, report, filters) -> Iterator[str]:
    """A report (a ``registry.Report``) under ``filters`` as CSV lines, its columns' labels as
    the header. The download is audited first — which report and which filters were set
    (their names, never their values) — like every other export; then the figures are computed
    (in the caller's scope, as on the page) and the lines come out one by one."""
    practice = Practice.objects.get(pk=practice_id_of(user))
    with audit_context(surface=Surface.EXPORT):
        audit_record(
            actor=user,
            action=f"report.{report.key}.csv_download",
            target=practice,
            changes=sorted(filters.params()),
        )
    figures = report.compute(user=user, filters=filters)
    fields = [field for field, _label in report.columns]
    return csv_lines([label for _field, label in report.columns], report_rows(figures, fields))
