"""Texts partners send back: "STOP" withdraws their text-message consent.

The SMS provider (or a relay in front of it) POSTs each inbound text to ``/r/sms/inbound/``
(``cyclecare.views.sms_inbound``), authenticated with the shared ``SMS_INBOUND_TOKEN``. The
number is matched against active partners; a stop word records the partner's own electronic
decision (``consent_record``, audited, actor the partner), which also cancels their pending
text reminders at once (``reminders.holds``). Other words are ignored: nothing is read or kept.
"""

from django.core.exceptions import ValidationError

from couples.models import Consent, Partner
from couples.selectors import consent_in_force
from couples.services import consent_record

from .channels import E164

# The opt-out keywords carriers expect to work (CTIA), in English; "ALTO" and "PARAR" in Spanish.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ALTO", "PARAR"})
UNKNOWN_NUMBER = "No partner in treatment has this number."


def is_stop_word(body: str) -> bool:
    """Whether a text asks to stop: its first word, any case, without punctuation."""
    words = (body or "").strip().split()
    return bool(words) and words[0].strip(".!¡").upper() in STOP_WORDS


def sms_inbound_receive(*, from_number: str, body: str) -> list[Partner]:
    """Act on one inbound text. Returns the partners whose text-message consent it withdrew
    (none for a text that is not a stop word, or whose consent was already withdrawn).
    Refuses a number that is not E.164 or that no active partner has."""
    from_number = (from_number or "").strip()
    if not E164.match(from_number):
        raise ValidationError({"from": ValidationError("The number is not in E.164 form.", code="invalid")})
    partners = list(Partner.objects.filter(phone=from_number, is_active=True).order_by("pk"))
    if not partners:
        raise ValidationError({"from": ValidationError(UNKNOWN_NUMBER, code="unknown_number")})
    if not is_stop_word(body):
        return []
    withdrawn = []
    for partner in partners:
        if consent_in_force(partner=partner, kind=Consent.Kind.SMS):
            consent_record(
                actor=partner,
                partner=partner,
                kind=Consent.Kind.SMS,
                granted=False,
                method=Consent.Method.ELECTRONIC,
            )
            withdrawn.append(partner)
    return withdrawn
