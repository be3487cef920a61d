"""What a partner's erasure (``couples.services.partner_erase``) does in the cycle domain, in
the transaction of the erasure (the event bus calls it there): every link of theirs stops
working — reminder and home links, and prepared-records download links, whose copies are
purged — and nothing waiting to be sent to them goes out (reminders, nudges, welcomes).

The clinical record stays: check-ins, episodes, homework and occurrences are clinical data the
practice must keep; only the ways to reach the partner go (see the records notes)."""

from typing import Any

from django.utils import timezone

from clinician.writes import Writes

from .models import PartnerLink, ReminderDelivery, WelcomeMessage
from .records import record_exports_revoke

ERASED = "The partner's contact details were erased at their request."


def on_erasure_event(event: str, *, practice_id: int, data: dict[str, Any], writes: Writes) -> None:
    """The event-bus subscriber (registered in ``CyclecareConfig.ready``)."""
    if event == "partner.erased":
        partner_reach_revoke(partner_id=data["partner_id"])


def partner_reach_revoke(*, partner_id: int) -> dict[str, int]:
    """Revoke every link of the partner and cancel what was waiting to be sent; returns counts."""
    now = timezone.now()
    links = PartnerLink.objects.filter(
        partner_id=partner_id, used_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)
    reminders = ReminderDelivery.objects.filter(
        partner_id=partner_id, status=ReminderDelivery.Status.PENDING
    ).update(status=ReminderDelivery.Status.CANCELLED, last_error=ERASED, enqueued_at=None)
    welcomes = WelcomeMessage.objects.filter(
        partner_id=partner_id, status=WelcomeMessage.Status.PENDING
    ).update(status=WelcomeMessage.Status.CANCELLED, last_error=ERASED)
    exports = record_exports_revoke(partner_id=partner_id)
    return {"links": links, "reminders": reminders, "welcomes": welcomes, "exports": exports}
