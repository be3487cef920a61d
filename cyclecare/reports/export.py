"""The de-identified check-in export: a practice's check-ins as CSV for research or audit, with
no name, contact, free text or safety answer in it.

What a file holds (one row per check-in, in the caller's administrative scope and the report
filters; the check-ins an outsider may see, ``disclosure.scored_checkins_for_outsiders``):

- ``couple_id``, ``partner_id``: pseudonyms, HMAC-SHA256 of the row's id under a key derived
  for the practice (``pseudonym``): the same in every export of one practice, unlinkable across
  practices, and not reversible without the key;
- ``instrument``, ``instrument_version``, ``local_date`` (the practice's calendar day, not the
  minute: the time of day says nothing a study needs and helps re-identify), ``total_score``;
- one column per item (``<instrument>.<item>``) an outsider may see: numbers (reverse keying
  applied), yes/no as 1/0, a choice as its option's code. Never a free-text item, a safety item
  or an item the instrument keeps for the clinician.

Beside it, a summary: per instrument, version and month, how many couples, partners and
check-ins, and the mean total. An export marked *leaving the practice* follows the small-cell
rule (``SMALL_CELL``): a summary row counting fewer than 5 couples reads "< 5" in every cell;
the summary has no total row (a total would give a suppressed cell back by subtraction); a
check-in row is written only if its summary cell (instrument version × month) counts at least 5
couples — no row shows what the summary hides — and its day is coarsened to the month's first.

Small exports are written in the request; larger ones run in Celery (``report_export_build``),
streaming rows with ``iterator(chunk_size=...)`` and recording progress as they go.
"""

import csv
import datetime
import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Avg, Count, F, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from clinician.audit import Surface, audit_context, audit_record
from clinician.conf import cyclecare_settings
from clinician.models import Clinician
from clinician.permissions import acting_clinician, row_scope

from .. import queue, scoring
from ..disclosure import Reader, item_disclosed, scored_checkins_for_outsiders
from ..models import CheckIn, Instrument, ReportExport
from .common import ADMINISTRATIVE, day_start, practice_zone
from .filters import FilterError, ReportFilters, parse_filters

log = logging.getLogger(__name__)

SMALL_CELL = 5
SUPPRESSED = "< 5"
CHUNK_SIZE = 2000
# A RUNNING export whose worker died (the task's hard limit, 3 h, is below this) may be claimed again.
STALE_AFTER = datetime.timedelta(hours=4)
FIXED_COLUMNS = ("couple_id", "partner_id", "instrument", "instrument_version", "local_date", "total_score")
SUMMARY_COLUMNS = (
    "instrument",
    "instrument_version",
    "month",
    "couples",
    "partners",
    "checkins",
    "mean_total",
)
EXPORTED_TYPES = ("likert", "slider", "vas", "yes_no", "choice")
# Spreadsheet programs run a cell that starts with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class ExportExpired(Exception):
    """The export's download link has expired (its file may already be gone)."""


# PSEUDONYMS
# ------------------------------------------------------------------------------
def _master_key() -> bytes:
    configured = cyclecare_settings.EXPORT_PSEUDONYM_KEY
    if configured:
        return configured.encode()
    return hmac.new(
        settings.SECRET_KEY.encode(), b"cyclecare.reports.export.pseudonym", hashlib.sha256
    ).digest()


def practice_key(practice_id: int) -> bytes:
    """The practice's own key: a pseudonym made under it says nothing about another practice's."""
    return hmac.new(_master_key(), f"practice:{practice_id}".encode(), hashlib.sha256).digest()


def pseudonym(kind: str, pk: int, *, key: bytes) -> str:
    """``C-…`` for a couple, ``P-…`` for a partner: 80 bits of HMAC-SHA256, stable per practice."""
    digest = hmac.new(key, f"{kind}:{pk}".encode(), hashlib.sha256).hexdigest()[:20]
    return f"{kind[0].upper()}-{digest}"


# WHAT AN EXPORT COVERS
# ------------------------------------------------------------------------------
def exported_items(definition: dict) -> list[dict]:
    """The items whose answers go into an export: what an outsider may see (no safety item, no
    clinician-only item), of a structured type (never free text)."""
    return [
        item
        for item in definition.get("items", [])
        if item.get("type") in EXPORTED_TYPES and item_disclosed(item, definition, to=Reader.OUTSIDE)
    ]


def export_checkins(*, user, filters: ReportFilters) -> QuerySet:
    """The check-ins an export of ``filters`` covers, oldest first: the caller's administrative
    scope, submitted on the period's days (the practice's calendar), narrowed by clinician
    (primary clinician), couple status and instrument code; never a screen whose scores only
    the treating clinician sees."""
    zone = practice_zone(user=user)
    checkins = CheckIn.objects.filter(
        row_scope(user, purpose=ADMINISTRATIVE),
        submitted_at__gte=day_start(filters.date_from, zone),
        submitted_at__lt=day_start(filters.date_to + datetime.timedelta(days=1), zone),
    )
    if filters.clinician is not None:
        checkins = checkins.filter(couple__primary_clinician_id=filters.clinician)
    if filters.status is not None:
        checkins = checkins.filter(couple__status=filters.status)
    if filters.instrument is not None:
        checkins = checkins.filter(instrument__code=filters.instrument)
    return scored_checkins_for_outsiders(checkins).order_by("submitted_at", "id")


def _month_start(moment, zone) -> datetime.datetime:
    day = moment.astimezone(zone).date() if isinstance(moment, datetime.datetime) else moment
    return day_start(day.replace(day=1), zone)


def _next_month(start: datetime.datetime, zone) -> datetime.datetime:
    return day_start((start.date().replace(day=28) + datetime.timedelta(days=4)).replace(day=1), zone)


def cells_with_enough_couples(checkins: QuerySet, *, zone) -> list[tuple[int, datetime.datetime]]:
    """The summary's cells (instrument version, month in the practice's calendar) that at least
    SMALL_CELL distinct couples answered: (instrument id, the month's first moment)."""
    groups = (
        checkins.order_by()
        .annotate(month=TruncMonth("submitted_at", tzinfo=zone))
        .values("instrument_id", "month")
        .annotate(couples=Count("couple_id", distinct=True))
        .filter(couples__gte=SMALL_CELL)
        .values_list("instrument_id", "month")
    )
    return sorted({(instrument_id, _month_start(month, zone)) for instrument_id, month in groups})


def releasable_checkins(checkins: QuerySet, *, leaving_practice: bool, zone) -> QuerySet:
    """The check-in rows a file may carry: all of them, or — leaving the practice — only those
    in a summary cell (instrument version × month) of at least SMALL_CELL couples, so that no
    row shows what the summary writes as "< 5"."""
    if not leaving_practice:
        return checkins
    cells = Q()
    for instrument_id, month in cells_with_enough_couples(checkins, zone=zone):
        cells |= Q(
            instrument_id=instrument_id, submitted_at__gte=month, submitted_at__lt=_next_month(month, zone)
        )
    return checkins.filter(cells) if cells else checkins.none()


# WRITING
# ------------------------------------------------------------------------------
def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _item_value(item: dict, answer: Any) -> Any:
    if answer is None:
        return None
    if item["type"] == "yes_no":
        return bool(answer)
    if item["type"] == "choice":
        return str(answer)
    return scoring.item_score(item, answer)


@dataclass(frozen=True)
class _Layout:
    """The columns of one export: the fixed ones, then each instrument's exported items."""

    instruments: dict[int, Instrument]
    items: dict[int, list[dict]]
    columns: list[str]


def _layout(checkins: QuerySet) -> _Layout:
    ids = set(checkins.order_by().values_list("instrument_id", flat=True).distinct())
    instruments = {
        instrument.pk: instrument
        for instrument in Instrument.objects.filter(pk__in=ids).order_by("code", "version", "pk")
    }
    items = {pk: exported_items(instrument.definition) for pk, instrument in instruments.items()}
    columns: list[str] = list(FIXED_COLUMNS)
    seen = set(columns)
    for pk, instrument in instruments.items():
        for item in items[pk]:
            name = f"{instrument.code}.{item['code']}"
            if name not in seen:
                seen.add(name)
                columns.append(name)
    return _Layout(instruments=instruments, items=items, columns=columns)


def _checkin_rows(
    checkins: QuerySet, layout: _Layout, *, practice_id: int, zone, leaving_practice: bool
) -> Iterator[list[Any]]:
    key = practice_key(practice_id)
    position = {name: index for index, name in enumerate(layout.columns)}
    rows = checkins.values_list(
        "couple_id", "partner_id", "instrument_id", "submitted_at", "total_score", "answers"
    ).iterator(chunk_size=CHUNK_SIZE)
    # One HMAC per couple and partner, not per row: the maps grow with the practice, not the rows.
    couple_ids: dict[int, str] = {}
    partner_ids: dict[int, str] = {}
    for couple_id, partner_id, instrument_id, submitted_at, total, answers in rows:
        if couple_id not in couple_ids:
            couple_ids[couple_id] = pseudonym("couple", couple_id, key=key)
        if partner_id not in partner_ids:
            partner_ids[partner_id] = pseudonym("partner", partner_id, key=key)
        instrument = layout.instruments[instrument_id]
        day = submitted_at.astimezone(zone).date()
        if leaving_practice:
            day = day.replace(day=1)  # the summary's month: no finer date leaves the practice
        row: list[Any] = [""] * len(layout.columns)
        row[:6] = [
            couple_ids[couple_id],
            partner_ids[partner_id],
            instrument.code,
            instrument.version,
            day.isoformat(),
            total,
        ]
        answers = answers or {}
        for item in layout.items[instrument_id]:
            row[position[f"{instrument.code}.{item['code']}"]] = _item_value(item, answers.get(item["code"]))
        yield [_cell(value) for value in row]


def summary_rows(checkins: QuerySet, *, zone, leaving_practice: bool) -> list[list[Any]]:
    """Per instrument version and month (the practice's calendar): couples, partners,
    check-ins and the mean total, computed in the database. Leaving the practice, a row
    counting fewer than SMALL_CELL couples reads "< 5" in every figure."""
    groups = (
        checkins.order_by()
        .annotate(month=TruncMonth("submitted_at", tzinfo=zone))
        .values("instrument__code", "instrument__version", "month")
        .annotate(
            couples=Count("couple_id", distinct=True),
            partners=Count("partner_id", distinct=True),
            checkins=Count("pk"),
            mean_total=Avg("total_score"),
        )
        .order_by("instrument__code", "instrument__version", "month")
    )
    rows = []
    for group in groups:
        month = group["month"]
        month = month.date() if isinstance(month, datetime.datetime) else month
        mean = group["mean_total"]
        figures = [
            group["couples"],
            group["partners"],
            group["checkins"],
            None if mean is None else round(Decimal(str(mean)), 2),
        ]
        if leaving_practice and group["couples"] < SMALL_CELL:
            figures = [SUPPRESSED] * len(figures)
        rows.append(
            [
                _cell(group["instrument__code"]),
                group["instrument__version"],
                month.strftime("%Y-%m"),
                *[value if value == SUPPRESSED else _cell(value) for value in figures],
            ]
        )
    return rows


def export_dir() -> Path:
    configured = cyclecare_settings.EXPORT_DIR
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "cyclecare-exports"


def _new_file(export: ReportExport, part: str) -> tuple[Path, str]:
    """A fresh, unguessable file name under the export directory (relative name, absolute path)."""
    name = f"{export.practice_id}/{export.pk}-{secrets.token_hex(8)}-{part}.csv"
    path = export_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path, name


def _write_csv(path: Path, header: list[str], rows) -> None:
    partial = path.with_suffix(".partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        os.chmod(partial, 0o600)
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    partial.replace(path)


# SERVICES
# ------------------------------------------------------------------------------
def _exporter(user) -> Clinician:
    """Only a practice admin exports: check-in rows of the whole practice leave the clinic's
    care, which is the practice's decision, not a caseload's."""
    clinician = acting_clinician(user)
    if clinician is None or clinician.role != Clinician.Role.PRACTICE_ADMIN:
        raise PermissionDenied(_("Only a practice admin can export check-ins."))
    return clinician


def report_export_count(*, user, filters: ReportFilters, leaving_practice: bool) -> int:
    """How many check-in rows an export of ``filters`` would write."""
    return releasable_checkins(
        export_checkins(user=user, filters=filters),
        leaving_practice=leaving_practice,
        zone=practice_zone(user=user),
    ).count()


def report_export_request(*, user, params: Mapping[str, str], leaving_practice: bool) -> ReportExport:
    """A practice admin asks for an export of the check-ins ``params`` (report filters) select.

    Raises FilterError for bad filters, PermissionDenied for anyone but a practice admin. Up to
    ``EXPORT_IN_REQUEST_MAX_ROWS`` rows are written before this returns; a larger export is
    queued for Celery and the caller follows its progress."""
    clinician = _exporter(user)
    filters = parse_filters(params, user=user)
    with transaction.atomic():
        export = ReportExport.objects.create(
            practice_id=clinician.practice_id,
            requested_by=clinician,
            filters=filters.params(),
            leaving_practice=leaving_practice,
        )
        audit_record(actor=user, action="report_export.request", target=export)
        rows = report_export_count(user=user, filters=filters, leaving_practice=leaving_practice)
        export.rows_total = rows
        export.save(update_fields=["rows_total"])
        if rows > cyclecare_settings.EXPORT_IN_REQUEST_MAX_ROWS:
            transaction.on_commit(lambda: queue.task("report_export_build").delay(export.pk))
    if rows <= cyclecare_settings.EXPORT_IN_REQUEST_MAX_ROWS:
        report_export_build(export_id=export.pk)
        export.refresh_from_db()
    return export


def _claim(export_id: int) -> ReportExport | None:
    with transaction.atomic():
        stale = timezone.now() - STALE_AFTER
        export = (
            ReportExport.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=ReportExport.Status.PENDING)
                | Q(status=ReportExport.Status.RUNNING, started_at__lt=stale),
                pk=export_id,
            )
            .select_related("requested_by__user")
            .first()
        )
        if export is None:
            return None
        export.status, export.started_at, export.rows_done = ReportExport.Status.RUNNING, timezone.now(), 0
        export.save(update_fields=["status", "started_at", "rows_done"])
    return export


def _fail(export: ReportExport, reason: str) -> str:
    export.status, export.error, export.finished_at = ReportExport.Status.FAILED, reason[:200], timezone.now()
    export.save(update_fields=["status", "error", "finished_at"])
    return export.status


def report_export_build(*, export_id: int) -> str:
    """Write an export's files and mark it done (or failed, with why, in words free of PHI).

    Idempotent: only a waiting export (or one whose worker died) is claimed; anything else is
    left as it is and its status returned. Filters and the requester's right to export are
    checked again now, as they stand. Rows stream from the database in chunks, so memory stays
    flat whatever the size; progress is saved every ``EXPORT_PROGRESS_EVERY`` rows."""
    export = _claim(export_id)
    if export is None:
        status = ReportExport.objects.filter(pk=export_id).values_list("status", flat=True).first()
        return status or "missing"
    user = export.requested_by.user
    try:
        _exporter(user)
        filters = parse_filters(export.filters, user=user)
    except PermissionDenied:
        log.warning("report export %s refused: the requester can no longer export", export.pk)
        return _fail(export, _("The person who asked can no longer export check-ins."))
    except FilterError as error:
        log.warning("report export %s has bad filters: %s", export.pk, ", ".join(sorted(error.errors)))
        return _fail(
            export, _("The filters no longer apply: %(names)s.") % {"names": ", ".join(sorted(error.errors))}
        )
    try:
        return _write(export, user=user, filters=filters)
    except Exception as error:
        # Only the exception's class goes to the log: its message may quote a row.
        log.error("report export %s failed: %s", export.pk, type(error).__name__)
        return _fail(export, _("The export could not be written. Try again, or ask for a shorter period."))


def _write(export: ReportExport, *, user, filters: ReportFilters) -> str:
    zone = practice_zone(user=user)
    checkins = export_checkins(user=user, filters=filters)
    rows = releasable_checkins(checkins, leaving_practice=export.leaving_practice, zone=zone)
    total = rows.count()
    ReportExport.objects.filter(pk=export.pk).update(rows_total=total, rows_done=0)

    summary_path, summary_name = _new_file(export, "summary")
    _write_csv(
        summary_path,
        list(SUMMARY_COLUMNS),
        summary_rows(checkins, zone=zone, leaving_practice=export.leaving_practice),
    )

    layout = _layout(rows)
    every = max(1, cyclecare_settings.EXPORT_PROGRESS_EVERY)
    written = 0

    def counted() -> Iterator[list[Any]]:
        nonlocal written
        for row in _checkin_rows(
            rows, layout, practice_id=export.practice_id, zone=zone, leaving_practice=export.leaving_practice
        ):
            yield row
            written += 1
            if written % every == 0:
                ReportExport.objects.filter(pk=export.pk).update(rows_done=min(written, total))

    checkins_path, checkins_name = _new_file(export, "checkins")
    _write_csv(checkins_path, layout.columns, counted())

    now = timezone.now()
    export.status = ReportExport.Status.DONE
    export.rows_total = max(total, written)
    export.rows_done = export.rows_written = written
    export.checkins_file, export.summary_file = checkins_name, summary_name
    export.finished_at = now
    export.expires_at = now + datetime.timedelta(hours=cyclecare_settings.EXPORT_LINK_HOURS)
    export.error = ""
    export.save(
        update_fields=[
            "status",
            "rows_total",
            "rows_done",
            "rows_written",
            "checkins_file",
            "summary_file",
            "finished_at",
            "expires_at",
            "error",
        ]
    )
    return export.status


# READING AND DOWNLOADING
# ------------------------------------------------------------------------------
def report_exports_for(*, user, limit: int = 20) -> QuerySet:
    """The caller's own recent exports (nobody else's, an admin's colleagues' included)."""
    clinician = acting_clinician(user)
    if clinician is None:
        return ReportExport.objects.none()
    return ReportExport.objects.filter(requested_by=clinician).order_by("-created_at", "-id")[:limit]


def report_export_get_for(*, user, export_id: int) -> ReportExport:
    """The caller's own export; anyone else's, or none, is a 404."""
    clinician = acting_clinician(user)
    export = ReportExport.objects.filter(pk=export_id, requested_by=clinician).first() if clinician else None
    if export is None:
        raise Http404
    return export


PARTS = {"checkins": "checkins_file", "summary": "summary_file"}


def report_export_download(*, user, export_id: int, part: str) -> tuple[Path, str]:
    """The file of one part (``checkins`` or ``summary``) of the caller's own, finished export,
    and the name to offer it under; counted and audited. Another person's export, an unknown
    part or one not ready is a 404; an expired link raises ExportExpired."""
    export = report_export_get_for(user=user, export_id=export_id)
    if part not in PARTS or export.status != ReportExport.Status.DONE:
        raise Http404
    name = getattr(export, PARTS[part])
    if export.is_expired or not name:
        raise ExportExpired
    path = export_dir() / name
    if not path.is_file():
        raise ExportExpired
    with transaction.atomic(), audit_context(surface=Surface.EXPORT):
        ReportExport.objects.filter(pk=export.pk).update(download_count=F("download_count") + 1)
        audit_record(actor=user, action="report_export.download", target=export, changes=[part])
    return path, f"cyclecare-export-{export.pk}-{part}.csv"


def report_exports_purge_expired() -> int:
    """Delete the files of expired exports (the rows stay, for the list and the audit trail)."""
    purged = 0
    expired = ReportExport.objects.filter(expires_at__lte=timezone.now()).exclude(
        checkins_file="", summary_file=""
    )
    for export in expired.iterator():
        for field in PARTS.values():
            name = getattr(export, field)
            if name:
                (export_dir() / name).unlink(missing_ok=True)
        ReportExport.objects.filter(pk=export.pk).update(checkins_file="", summary_file="")
        purged += 1
    return purged


def export_instruments(*, user) -> list[tuple[str, str]]:
    """(code, name) of the instruments an export can cover: the practice's and the shipped ones,
    less the screens whose scores only the treating clinician sees (never exported)."""
    clinician = acting_clinician(user)
    if clinician is None:
        return []
    names: dict[str, str] = {}
    candidates = (
        Instrument.objects.filter(Q(practice=None) | Q(practice_id=clinician.practice_id))
        # A subquery, as in disclosure: exclude() on an absent JSON key would drop every row.
        .exclude(pk__in=Instrument.objects.filter(definition__safety_flag_when_clinical=True).values("pk"))
        .order_by("code", "-version")
        .values_list("code", "name")
    )
    for code, name in candidates:
        names.setdefault(code, name)
    return sorted(names.items())
