"""Partner links: how a partner gets in without a password.

A link carries an opaque random token; only its SHA-256 is stored, so a database leak yields no
working links. A link works for one partner (and, for a check-in, one occurrence) until it
expires. Opening it (GET) never uses it up — mail scanners prefetch links; the successful POST
that submits the check-in does, in the same transaction as the check-in.
"""

import datetime
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinician.conf import cyclecare_settings
from couples.models import Partner

from . import scoring, services
from .models import CheckIn, Occurrence, PartnerLink


class LinkState:
    VALID = "valid"
    EXPIRED = "expired"
    USED = "used"
    INVALID = "invalid"


@dataclass(frozen=True)
class ResolvedLink:
    state: str
    link: PartnerLink | None = None


def token_digest(token: str) -> str:
    """What is stored of a link's token: its SHA-256 (partner links, records download links)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _link_build(
    *,
    partner: Partner,
    purpose: str,
    occurrence: Occurrence | None,
    valid_for: datetime.timedelta | None,
    now: datetime.datetime,
) -> tuple[PartnerLink, str]:
    """An unsaved link and its token, after the checks that need no database."""
    if occurrence is not None and occurrence.partner_id != partner.pk:
        raise ValidationError({"occurrence": "A link is for the partner the occurrence belongs to."})
    if valid_for is None:
        hours = (
            cyclecare_settings.CHECKIN_LINK_HOURS
            if purpose == PartnerLink.Purpose.CHECK_IN
            else cyclecare_settings.HOME_LINK_HOURS
        )
        valid_for = datetime.timedelta(hours=hours)
    token = secrets.token_urlsafe(32)
    link = PartnerLink(
        practice_id=partner.practice_id,
        partner=partner,
        purpose=purpose,
        occurrence=occurrence,
        token_sha256=token_digest(token),
        expires_at=now + valid_for,
    )
    return link, token


def partner_link_issue(
    *,
    partner: Partner,
    purpose: str,
    occurrence: Occurrence | None = None,
    valid_for: datetime.timedelta | None = None,
) -> tuple[PartnerLink, str]:
    """Make a link; returns the row and the token (shown once, in the reminder)."""
    link, token = _link_build(
        partner=partner, purpose=purpose, occurrence=occurrence, valid_for=valid_for, now=timezone.now()
    )
    link.full_clean()
    link.save()
    return link, token


@dataclass(frozen=True)
class LinkRequest:
    partner: Partner
    purpose: str
    occurrence: Occurrence | None = None


def partner_links_issue(requests: Sequence[LinkRequest]) -> list[tuple[PartnerLink, str]]:
    """partner_link_issue for a batch whose partner and occurrence rows the caller has just
    loaded (the reminder dispatcher): one INSERT, none of full_clean's lookups. What those
    lookups would catch is checked here without the database — saved partner and occurrence,
    the occurrence is that partner's, a known purpose with an occurrence exactly for a check-in
    — and the rest stays enforced by the database: the foreign keys, the unique token hash (a
    collision of 256-bit random tokens aborts the batch rather than passing) and the
    purpose/occurrence check constraint. Returns (link, token) in the order of ``requests``."""
    now = timezone.now()
    issued = []
    for request in requests:
        occurrence = request.occurrence
        if request.partner.pk is None or (occurrence is not None and occurrence.pk is None):
            raise ValueError("Links are issued for saved partners and occurrences only.")
        if request.purpose not in PartnerLink.Purpose.values:
            raise ValidationError({"purpose": f"Unknown link purpose {request.purpose!r}."})
        if (request.purpose == PartnerLink.Purpose.CHECK_IN) != (occurrence is not None):
            raise ValidationError({"occurrence": "A check-in link has an occurrence; a home link has none."})
        issued.append(
            _link_build(
                partner=request.partner,
                purpose=request.purpose,
                occurrence=occurrence,
                valid_for=None,
                now=now,
            )
        )
    PartnerLink.objects.bulk_create([link for link, _ in issued])
    return issued


def partner_link_resolve(*, token: str) -> ResolvedLink:
    """What a token opens, without using it up. Unknown, expired and used links say so and
    carry nothing a stranger could use."""
    if not token or len(token) > 100:
        return ResolvedLink(LinkState.INVALID)
    link = (
        PartnerLink.objects.select_related("partner", "partner__couple", "occurrence__assignment__instrument")
        .filter(token_sha256=token_digest(token))
        .first()
    )
    if link is None or not link.partner.is_active:
        return ResolvedLink(LinkState.INVALID)
    if link.used_at is not None or (
        link.occurrence is not None and link.occurrence.status == Occurrence.Status.COMPLETED
    ):
        return ResolvedLink(LinkState.USED, link)
    if link.expires_at <= timezone.now() or (
        link.occurrence is not None and link.occurrence.status == Occurrence.Status.CANCELLED
    ):
        return ResolvedLink(LinkState.EXPIRED, link)
    return ResolvedLink(LinkState.VALID, link)


@transaction.atomic
def checkin_submit_via_link(*, token: str, answers: dict, shared_with_partner: bool = False) -> CheckIn:
    """Submit the check-in a link is for, and use the link up — both or neither. A replayed or
    double POST finds the link used and creates nothing."""
    resolved = partner_link_resolve(token=token)
    if resolved.state != LinkState.VALID or resolved.link.purpose != PartnerLink.Purpose.CHECK_IN:
        raise ValidationError(
            {"link": ValidationError(f"This link is {resolved.state}.", code=resolved.state)}
        )
    # Lock the link row: two concurrent POSTs cannot both pass the check below.
    link = PartnerLink.objects.select_for_update().get(pk=resolved.link.pk)
    if link.used_at is not None:
        raise ValidationError({"link": ValidationError("This link is used.", code=LinkState.USED)})
    occurrence = resolved.link.occurrence
    checkin = services.checkin_submit(
        partner=resolved.link.partner,
        instrument=occurrence.assignment.instrument,
        occurrence=occurrence,
        answers=answers,
        shared_with_partner=shared_with_partner,
    )
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    return checkin


# WHAT A PARTNER IS SHOWN AFTER A SAFETY ANSWER
# ------------------------------------------------------------------------------
def crisis_resources_for(*, partner: Partner) -> list[dict]:
    """What a partner is shown after a positive safety answer: their practice's crisis resources,
    or cyclecare's defaults when the practice has set none. Only well-formed entries."""
    resources = partner.practice.crisis_resources or cyclecare_settings.DEFAULT_CRISIS_RESOURCES
    return [
        {"name": str(entry.get("name", "")), "contact": str(entry.get("contact", ""))}
        for entry in resources
        if isinstance(entry, dict) and (entry.get("name") or entry.get("contact"))
    ]


def checkin_calls_for_crisis_resources(checkin: CheckIn) -> bool:
    """Whether the author of this check-in should be shown crisis resources: a safety item
    answered yes, or a screen (HITS) in its clinical range. For the author's own pages only."""
    definition = checkin.instrument.definition
    if scoring.safety_items_positive(definition, checkin.answers):
        return True
    return bool(
        definition.get("safety_flag_when_clinical")
        and scoring.in_clinical_range(definition, checkin.total_score)
    )
