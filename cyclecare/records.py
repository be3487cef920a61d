"""A partner's own records, segmented: what is theirs, prepared by the treating clinician and
handed over by a single-use, expiring download link.

What is the partner's (``partner_records_gather``):

- their contact details and their sessions (individual ones, and the couple's joint ones);
- their own check-ins, as their author may see them (``cyclecare.disclosure``, reader
  ``AUTHOR``: never a safety answer or a clinician-only item or score);
- episodes they reported (with what they wrote), and the clinician's in-session episodes they
  are in (what was seen, not the clinician's free text);
- what the other partner shared with them, as the partner pages show it (``Reader.PARTNER``);
- their consents;
- signed notes of their individual sessions, and signed joint-session notes **only** where the
  clinician released that note to them (``RecordRelease``, item by item, each audited);
- their access report (``partner_access_report``).

Never: the other partner's private answers or their individual sessions, safety flags, cycle
maps (the couple's, written about both), draft notes, unreleased joint-session notes.

The clinician prepares a copy (``records_prepare``): it is frozen then, kept encrypted, and the
partner downloads it once (``record_export_download``) as a ZIP holding the JSON, the FHIR
Bundle and a printable PDF. Every release, withdrawal, preparation and download is audited.
"""

import datetime
import io
import json
import secrets
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation

from clinician.audit import audit_record, record_label
from clinician.conf import cyclecare_settings
from clinician.models import AuditEvent, Clinician
from clinician.permissions import require_treating_access
from couples.models import Addendum, Consent, Partner, SessionNote, TherapySession
from couples.selectors import consent_in_force, partner_get_for

from . import fhir
from .audit_trail import actor_names
from .disclosure import Reader, checkin_disclosed
from .models import CheckIn, CycleEpisode, RecordExport, RecordRelease
from .partner_access import token_digest
from .records_pdf import records_pdf
from .reminders import channels, messages
from .selectors import checkins_for_partner, episodes_for_partner, shared_checkins_from_other_partner

FORMAT = "cyclecare.partner-records/1"
NOT_INCLUDED = (
    "Your partner's private answers and anything they did not share with you.",
    "Notes of your partner's individual sessions.",
    "Notes of joint sessions, unless your clinician released a note to you.",
    "Draft notes, which are not yet part of the record.",
    "Safety answers and safety reviews, which only your clinician sees.",
    "The couple's cycle map, which describes both partners.",
)
RELEASE_TYPES = {RecordRelease.TargetType.SESSION_NOTE: SessionNote}


# RELEASES: JOINT-SESSION ITEMS, ONE BY ONE
# ------------------------------------------------------------------------------
def releasable_joint_notes(*, partner: Partner) -> QuerySet[SessionNote]:
    """The signed notes of the couple's joint sessions: what the clinician may release to one
    partner. (Who may see the list is the caller's check: ``require_treating_access``.)"""
    return (
        SessionNote.objects.filter(
            session__couple_id=partner.couple_id,
            session__kind=TherapySession.Kind.JOINT,
            status=SessionNote.Status.SIGNED,
        )
        .select_related("session")
        .order_by("session__starts_at", "pk")
    )


def releases_in_force(*, partner: Partner) -> QuerySet[RecordRelease]:
    return RecordRelease.objects.filter(partner=partner, withdrawn_at__isnull=True)


def _treating(user, partner: Partner) -> Clinician:
    return require_treating_access(
        user, partner.couple, field="partner", message="Only the couple's treating clinician can do this."
    )


@transaction.atomic
def record_release(*, user, partner: Partner, note: SessionNote) -> RecordRelease:
    """Release one signed joint-session note into ``partner``'s own records. Idempotent: a note
    already released returns its release. Audited as ``record.release``."""
    clinician = _treating(user, partner)
    if (
        note.session.couple_id != partner.couple_id
        or note.session.kind != TherapySession.Kind.JOINT
        or note.status != SessionNote.Status.SIGNED
    ):
        raise ValidationError({"note": "Only a signed note of this couple's joint sessions can be released."})
    target_type = RecordRelease.TargetType.SESSION_NOTE
    existing = releases_in_force(partner=partner).filter(target_type=target_type, target_id=note.pk).first()
    if existing is not None:
        return existing
    release = RecordRelease(
        practice_id=partner.practice_id,
        partner=partner,
        target_type=target_type,
        target_id=note.pk,
        released_by=clinician,
        released_at=timezone.now(),
    )
    release.full_clean()
    release.save()
    audit_record(actor=user, action="record.release", target=release)
    return release


@transaction.atomic
def record_release_withdraw(*, user, release: RecordRelease) -> RecordRelease:
    """Withdraw a release: the note leaves the partner's records prepared from now on (a copy
    already prepared keeps what it held). Audited as ``record.release_withdraw``."""
    release = RecordRelease.objects.select_for_update().select_related("partner__couple").get(pk=release.pk)
    clinician = _treating(user, release.partner)
    if release.withdrawn_at is not None:
        return release
    release.withdrawn_at = timezone.now()
    release.withdrawn_by = clinician
    release.save(update_fields=["withdrawn_at", "withdrawn_by"])
    audit_record(actor=user, action="record.release_withdraw", target=release, changes=["withdrawn_at"])
    return release


@transaction.atomic
def record_releases_set(*, user, partner: Partner, note_ids: Iterable[int]) -> None:
    """Make the partner's releases exactly ``note_ids`` (the page's check boxes): release what is
    new, withdraw what was unticked — each one audited."""
    _treating(user, partner)
    wanted = set(note_ids)
    notes = {note.pk: note for note in releasable_joint_notes(partner=partner).filter(pk__in=wanted)}
    if wanted - set(notes):
        raise ValidationError({"notes": "Only signed notes of this couple's joint sessions can be released."})
    current = {
        release.target_id: release
        for release in releases_in_force(partner=partner).filter(
            target_type=RecordRelease.TargetType.SESSION_NOTE
        )
    }
    for note_id in sorted(wanted - set(current)):
        record_release(user=user, partner=partner, note=notes[note_id])
    for note_id in sorted(set(current) - wanted):
        record_release_withdraw(user=user, release=current[note_id])


# THE ACCESS REPORT
# ------------------------------------------------------------------------------
def partner_access_report(*, partner: Partner, targets: Iterable[models.Model]) -> list[dict[str, Any]]:
    """Who viewed or changed this partner's record: the audit events on their own rows (the
    trail's ``partner_id``) and on ``targets`` (the rows of this copy, released joint notes
    among them), oldest first, each as when, who, what and through which surface. The practice
    admin's access report (``cyclecare.audit_trail``) also lists the couple's shared rows; a
    partner's own copy names only what is theirs."""
    by_type: dict[str, set[str]] = defaultdict(set)
    by_type[record_label(Partner).lower()].add(str(partner.pk))
    for target in targets:
        by_type[record_label(type(target)).lower()].add(str(target.pk))
    whose = Q(partner_id=partner.pk)
    for target_type, ids in by_type.items():
        whose |= Q(target_type=target_type, target_id__in=sorted(ids))
    events = list(
        AuditEvent.objects.filter(whose, practice_id=partner.practice_id).order_by("occurred_at", "id")
    )
    clinicians, clients = actor_names(events)
    return [
        {
            "at": event.occurred_at,
            "who": _who(event, partner, clinicians, clients),
            "action": event.action,
            "record": event.target_type,
            "record_id": event.target_id,
            "through": event.get_surface_display() if event.surface else "",
        }
        for event in events
    ]


def _who(event: AuditEvent, partner: Partner, clinicians: dict, clients: dict) -> str:
    kind = event.actor_kind
    if kind == AuditEvent.ActorKind.USER:
        name = clinicians.get(int(event.actor_id)) if event.actor_id.isdigit() else None
        return name or "A staff member of the practice"
    if kind == AuditEvent.ActorKind.PARTNER:
        return "You" if event.actor_id == str(partner.pk) else "Another partner"
    if kind == AuditEvent.ActorKind.INTEGRATION:
        name = clients.get(int(event.actor_id)) if event.actor_id.isdigit() else None
        return f"Connected system: {name}" if name else "A connected system"
    return "cyclecare (automatic)"


# GATHERING
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PartnerRecords:
    document: dict[str, Any]
    fhir_bundle: dict[str, Any]
    targets: list[models.Model]


def _plain(value: Any) -> Any:
    """JSON-ready: datetimes and decimals as strings, the way the REST API writes them."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _question(item: dict, language: str) -> str:
    text = item.get("text", "")
    if isinstance(text, dict):
        return str(text.get(language) or text.get("en") or "")
    return str(text)


def _answers(checkin: CheckIn, answers: dict, language: str) -> list[dict]:
    items = checkin.instrument.definition.get("items", [])
    return [
        {"item": item["code"], "question": _question(item, language), "answer": answers[item["code"]]}
        for item in items
        if item["code"] in answers
    ]


def _instrument(checkin: CheckIn) -> dict:
    return {
        "code": checkin.instrument.code,
        "version": checkin.instrument.version,
        "name": checkin.instrument.name,
    }


def _move(episode: CycleEpisode, partner: Partner) -> str:
    if episode.pursuer_id == partner.pk:
        return "pursue"
    if episode.withdrawer_id == partner.pk:
        return "withdraw"
    return ""


def _episode(episode: CycleEpisode, partner: Partner, *, with_text: bool) -> dict:
    row = {
        "id": episode.pk,
        "occurred_at": episode.occurred_at,
        "source": episode.source,
        "reported_by_you": episode.reported_by_id == partner.pk,
        "your_move": _move(episode, partner),
        "intensity": episode.intensity,
        "duration_minutes": episode.duration_minutes,
        "repair_attempted": episode.repair_attempted,
        "repair_worked": episode.repair_worked,
    }
    if with_text:
        row.update(trigger=episode.trigger, notes=episode.notes)
    return row


def _note(note: SessionNote, addenda: list[Addendum], *, released: bool) -> dict:
    session = note.session
    return {
        "id": note.pk,
        "session_id": session.pk,
        "session_kind": session.kind,
        "session_date": session.starts_at,
        "format": note.format,
        "sections": note.section_values(),
        "eft_stage": note.eft_stage,
        "eft_step": note.eft_step,
        "signed_at": note.signed_at,
        "signed_by": note.signed_by.display_name if note.signed_by_id else "",
        "released_to_you": released,
        "addenda": [{"created_at": a.created_at, "body": a.body} for a in addenda],
    }


def _notes_for(partner: Partner) -> tuple[list[SessionNote], set[int]]:
    """Signed notes of the partner's individual sessions, and the released joint ones (with the
    set of released ids). A released note that is no longer a signed joint note of this couple
    (it cannot become one, but the rule is asked of the data, not assumed) stays out."""
    released = set(
        releases_in_force(partner=partner)
        .filter(target_type=RecordRelease.TargetType.SESSION_NOTE)
        .values_list("target_id", flat=True)
    )
    notes = list(
        SessionNote.objects.filter(status=SessionNote.Status.SIGNED)
        .filter(
            Q(session__kind=TherapySession.Kind.INDIVIDUAL, session__partner=partner)
            | Q(
                session__kind=TherapySession.Kind.JOINT, session__couple_id=partner.couple_id, pk__in=released
            )
        )
        .select_related("session", "signed_by")
        .order_by("session__starts_at", "pk")
    )
    return notes, released


def partner_records_gather(*, partner: Partner) -> PartnerRecords:
    """Everything of ``partner``'s that is theirs, segmented as the module says. Reads no
    scope: callers check who asks (``records_prepare``)."""
    language = partner.language
    sessions = list(
        TherapySession.objects.filter(
            Q(kind=TherapySession.Kind.INDIVIDUAL, partner=partner)
            | Q(kind=TherapySession.Kind.JOINT, couple_id=partner.couple_id)
        )
        .select_related("clinician")
        .order_by("starts_at", "pk")
    )
    own = list(checkins_for_partner(partner=partner).order_by("submitted_at", "pk"))
    own_shown = [(checkin, checkin_disclosed(checkin, to=Reader.AUTHOR)) for checkin in own]
    shared = list(
        shared_checkins_from_other_partner(partner=partner)
        .select_related("instrument")
        .order_by("submitted_at", "pk")
    )
    episodes = list(
        CycleEpisode.objects.filter(couple_id=partner.couple_id)
        .filter(
            Q(reported_by=partner)
            | Q(source=CycleEpisode.Source.SESSION) & (Q(pursuer=partner) | Q(withdrawer=partner))
        )
        .order_by("occurred_at", "pk")
    )
    shared_episodes = list(
        episodes_for_partner(partner=partner).exclude(reported_by=partner).order_by("occurred_at", "pk")
    )
    consents = list(Consent.objects.filter(partner=partner).order_by("recorded_at", "pk"))
    notes, released = _notes_for(partner)
    addenda: dict[int, list[Addendum]] = defaultdict(list)
    for addendum in Addendum.objects.filter(note__in=notes).order_by("created_at", "pk"):
        addenda[addendum.note_id].append(addendum)
    past_exports = list(RecordExport.objects.filter(partner=partner))
    releases = list(RecordRelease.objects.filter(partner=partner))

    targets: list[models.Model] = [
        *sessions,
        *own,
        *episodes,
        *consents,
        *notes,
        *addenda_rows(addenda),
        *past_exports,
        *releases,
    ]
    document = {
        "format": FORMAT,
        "prepared_at": timezone.now(),
        "practice": partner.practice.name,
        "partner": {
            "id": partner.pk,
            "display_name": partner.display_name,
            "pronouns": partner.pronouns,
            "email": partner.email,
            "phone": partner.phone,
            "language": partner.language,
            "time_zone": partner.time_zone,
        },
        "sessions": [
            {
                "id": s.pk,
                "starts_at": s.starts_at,
                "kind": s.kind,
                "modality": s.modality,
                "status": s.status,
                "duration_minutes": s.duration_minutes,
                "clinician": s.clinician.display_name,
            }
            for s in sessions
        ],
        "checkins": [
            {
                "id": checkin.pk,
                "instrument": _instrument(checkin),
                "submitted_at": checkin.submitted_at,
                "answers": _answers(checkin, shown.answers, language),
                "total_score": shown.total_score,
                "subscale_scores": shown.subscale_scores,
                "shared_with_partner": checkin.shared_with_partner,
            }
            for checkin, shown in own_shown
        ],
        "episodes": [
            _episode(episode, partner, with_text=episode.reported_by_id == partner.pk) for episode in episodes
        ],
        "shared_with_you": {
            "checkins": [
                {
                    "id": checkin.pk,
                    "instrument": _instrument(checkin),
                    "submitted_at": checkin.submitted_at,
                    "answers": _answers(
                        checkin, checkin_disclosed(checkin, to=Reader.PARTNER).answers, language
                    ),
                }
                for checkin in shared
            ],
            "episodes": [_episode(episode, partner, with_text=False) for episode in shared_episodes],
        },
        "consents": [
            {"kind": c.kind, "granted": c.granted, "method": c.method, "recorded_at": c.recorded_at}
            for c in consents
        ],
        "notes": [_note(note, addenda[note.pk], released=note.pk in released) for note in notes],
        "access_report": partner_access_report(partner=partner, targets=targets),
        "not_included": list(NOT_INCLUDED),
    }
    bundle = fhir.partner_records_bundle(partner=partner, sessions=sessions, checkins=own_shown)
    return PartnerRecords(document=_plain(document), fhir_bundle=bundle, targets=targets)


def addenda_rows(addenda: dict[int, list[Addendum]]) -> list[Addendum]:
    return [addendum for rows in addenda.values() for addendum in rows]


# PREPARING AND HANDING OVER
# ------------------------------------------------------------------------------
def records_url(token: str) -> str:
    """The absolute URL of the partner's download page for ``token``."""
    try:
        path = reverse("cyclecare:partner:records", kwargs={"token": token})
    except NoReverseMatch:
        path = f"/p/r/{token}/"
    return cyclecare_settings.SITE_URL.rstrip("/") + path


@transaction.atomic
def records_prepare(
    *, user, partner_id: int, note_ids: Iterable[int] | None = None
) -> tuple[RecordExport, str]:
    """Prepare ``partner``'s own records for download: 404 unless the partner is in the user's
    clinical scope, refused unless the user treats the couple. With ``note_ids``, first make
    the partner's releases exactly those joint-session notes (``record_releases_set``). Returns
    the export and its token (shown once: only its hash is kept). Audited as ``record.prepare``."""
    partner = partner_get_for(user=user, partner_id=partner_id)
    clinician = _treating(user, partner)
    if note_ids is not None:
        record_releases_set(user=user, partner=partner, note_ids=note_ids)
    records = partner_records_gather(partner=partner)
    now = timezone.now()
    token = secrets.token_urlsafe(32)
    export = RecordExport(
        practice_id=partner.practice_id,
        partner=partner,
        prepared_by=clinician,
        token_sha256=token_digest(token),
        contents={"records": records.document, "fhir": records.fhir_bundle},
        created_at=now,
        expires_at=now + datetime.timedelta(hours=cyclecare_settings.RECORDS_LINK_HOURS),
    )
    export.save()
    audit_record(actor=user, action="record.prepare", target=export)
    return export, token


class ExportState:
    READY = "valid"
    EXPIRED = "expired"
    USED = "used"
    INVALID = "invalid"


@dataclass(frozen=True)
class ResolvedExport:
    state: str
    export: RecordExport | None = None


def record_export_resolve(*, token: str) -> ResolvedExport:
    """What a download token opens, without using it. Unknown and revoked tokens are invalid;
    downloaded ones used; past their time (or purged by retention) expired."""
    if not token or len(token) > 100:
        return ResolvedExport(ExportState.INVALID)
    export = (
        RecordExport.objects.select_related("partner", "partner__practice")
        .filter(token_sha256=token_digest(token))
        .first()
    )
    if export is None or export.revoked_at is not None:
        return ResolvedExport(ExportState.INVALID)
    if export.downloaded_at is not None:
        return ResolvedExport(ExportState.USED, export)
    if export.expires_at <= timezone.now() or export.purged_at is not None:
        return ResolvedExport(ExportState.EXPIRED, export)
    return ResolvedExport(ExportState.READY, export)


@transaction.atomic
def record_export_download(*, token: str) -> tuple[RecordExport, bytes]:
    """Use the link: the ZIP of the prepared records (JSON, FHIR Bundle, PDF), once. The copy is
    purged as it is handed over; a second request finds the link used. Audited as
    ``record.download`` by the partner."""
    resolved = record_export_resolve(token=token)
    if resolved.state != ExportState.READY:
        raise ValidationError(f"This link is {resolved.state}.", code=resolved.state)
    export = RecordExport.objects.select_for_update().get(pk=resolved.export.pk)
    if export.downloaded_at is not None:
        raise ValidationError("This link is used.", code=ExportState.USED)
    archive = records_archive(export.contents)
    now = timezone.now()
    export.downloaded_at = now
    export.purged_at = now
    export.contents = {}
    export.save(update_fields=["downloaded_at", "purged_at", "contents"])
    audit_record(actor=resolved.export.partner, action="record.download", target=export)
    return export, archive


def records_archive(contents: dict) -> bytes:
    """The three formats in one ZIP: one download, so the link can be single-use."""
    records = contents["records"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("records.json", json.dumps(records, indent=2, ensure_ascii=False))
        archive.writestr("records.fhir.json", json.dumps(contents["fhir"], indent=2, ensure_ascii=False))
        archive.writestr("records.pdf", records_pdf(records))
    return buffer.getvalue()


def records_link_email(*, user, export: RecordExport, token: str) -> str:
    """Email ``token``'s download link to the partner, as every partner email is built
    (``reminders.messages.partner_email``: the practice's sender name, one-click stop headers),
    sent now by the reminder channels' email. Only to an address on file with email consent in
    force (else a ValidationError saying why); a failed send raises ``channels.SendError``.
    The message carries no PHI: first name, practice, link. Audited as ``record.link_emailed``."""
    partner = export.partner
    _treating(user, partner)
    if not partner.email:
        raise ValidationError("There is no email address on file.", code="no_contact")
    if not consent_in_force(partner=partner, kind=Consent.Kind.EMAIL):
        raise ValidationError("No consent to email is recorded.", code="no_consent")
    stop = messages.stop_url(partner_id=partner.pk, channel="email")
    context = {
        "first_name": messages.first_name(partner.display_name),
        "practice_name": partner.practice.name,
        "action_url": records_url(token),
        "stop_url": stop,
        "link_hours": cyclecare_settings.RECORDS_LINK_HOURS,
    }
    with translation.override(partner.language):
        subject = " ".join(render_to_string("cyclecare/email/records_link_subject.txt", context).split())
        text = render_to_string("cyclecare/email/records_link.txt", context)
        html = render_to_string("cyclecare/email/records_link.html", context)
    message = messages.partner_email(
        partner,
        subject=subject,
        text=text,
        html=html,
        message_id=messages.message_id(export.pk, kind="records"),
        stop=stop,
    )
    sent = channels.email_send(message, connection=channels.email_connection())
    audit_record(actor=user, action="record.link_emailed", target=export)
    return sent


def record_exports_revoke(*, partner_id: int) -> int:
    """Withdraw every download link of the partner not yet used, and purge its copy (erasure)."""
    now = timezone.now()
    return RecordExport.objects.filter(
        partner_id=partner_id, downloaded_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now, purged_at=now, contents=None)


def record_exports_for(*, partner: Partner) -> QuerySet[RecordExport]:
    """The partner's prepared copies, latest first (for the clinician's page: dates and states)."""
    return (
        RecordExport.objects.filter(partner=partner)
        .select_related("prepared_by")
        .order_by("-created_at", "-pk")
    )
