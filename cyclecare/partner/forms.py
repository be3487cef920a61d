"""Partner-page forms: a check-in drawn from its instrument's definition, and an episode log
(``cyclecare.forms.EpisodeForm`` in the partner's words).

The check-in form is not a Django ``Form``: its fields come from the instrument (data), the
service (``checkin_submit``) is the one validator of answers, and the form only turns the POST
into answers, refuses anything it did not render, and shows the service's errors next to the
item they name — in the partner's language.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from couples.models import Partner
from cyclecare.forms import YES_NO, EpisodeForm, answered_yes, repair_outcome

# Fields the check-in form renders besides the items.
CSRF_FIELD = "csrfmiddlewaretoken"
INSTRUMENT_FIELD = "instrument"
SHARE_FIELD = "share"
SKIP_SUFFIX = "__skip"
NUMERIC_TYPES = ("likert", "slider", "vas")
# A range with more stops than this moves in steps of 5 (minutes 0–240), so arrow keys get there.
FINE_RANGE_STOPS = 20


def localized(texts: Any, language: str) -> str:
    """A definition's ``{"en": ..., "es": ...}`` in the partner's language, English otherwise."""
    if isinstance(texts, dict):
        return str(texts.get(language) or texts.get("en") or next(iter(texts.values()), ""))
    return "" if texts is None else str(texts)


def translate_answer_error(message: str) -> str:
    """scoring.clean_answers speaks English; partners read their own language."""
    exact = {
        "Please answer this question.": _("Please answer this question."),
        "Enter a number.": _("Enter a number."),
        "Use at most one decimal place.": _("Use at most one decimal place."),
        "Choose a whole number.": _("Choose a whole number."),
        "Answer yes or no.": _("Answer yes or no."),
        "Choose one of the options.": _("Choose one of the options."),
        "Not an item of this check-in.": _("This is not a question of this check-in."),
    }
    if message in exact:
        return exact[message]
    if match := re.fullmatch(r"Choose a value from (\S+) to (\S+)\.", message):
        return _("Choose a value from %(min)s to %(max)s.") % {"min": match[1], "max": match[2]}
    if match := re.fullmatch(r"Keep it under (\d+) characters\.", message):
        return _("Keep it under %(count)s characters.") % {"count": match[1]}
    return _("Please check this answer.")


@dataclass
class ItemField:
    """One question as the template draws it."""

    code: str
    kind: str
    text: str
    required: bool
    privacy: str
    safety: bool
    value: str = ""
    skipped: bool = False
    error: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: str = "1"
    max_length: int = 500
    options: list[tuple[str, str]] = field(default_factory=list)
    preamble: str = ""  # instructions shown before the item (the CSI's semantic-differential block)

    @property
    def html_id(self) -> str:
        return f"item-{self.code}"

    @property
    def skip_name(self) -> str:
        return f"{self.code}{SKIP_SUFFIX}"

    @property
    def widget(self) -> str:
        """yes_no and choice and likert are radio groups; slider/vas a range; text a textarea."""
        if self.kind in ("yes_no", "choice", "likert"):
            return "radios"
        if self.kind in ("slider", "vas"):
            return "range"
        return "textarea"

    @property
    def can_skip(self) -> bool:
        # A range always sends a value; an optional one needs a way to say "not this time".
        return self.widget == "range" and not self.required

    @property
    def range_value(self) -> str:
        """Where the thumb sits: the posted value, else the middle of the scale."""
        if self.value:
            return self.value
        middle = (self.minimum + self.maximum) / 2
        step = float(self.step)
        return _number(round(middle / step) * step)

    def option_labels(self) -> list[tuple[str, str, bool]]:
        return [(value, label, value == self.value) for value, label in self.options]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def checkin_items(definition: dict, language: str) -> list[ItemField]:
    items = []
    for item in definition["items"]:
        kind = item["type"]
        field_ = ItemField(
            code=item["code"],
            kind=kind,
            text=localized(item.get("text"), language) or item["code"],
            required=item.get("required", True),
            privacy=item.get("privacy", "private"),
            safety=bool(item.get("safety")),
            max_length=item.get("max_length", 500),
            preamble=localized(item.get("preamble"), language),
        )
        if kind in NUMERIC_TYPES:
            field_.minimum, field_.maximum = item["min"], item["max"]
            if kind == "vas":
                field_.step = "0.1"
            elif item["max"] - item["min"] > FINE_RANGE_STOPS:
                field_.step = "5"
        if kind == "yes_no":
            field_.options = [("yes", _("Yes")), ("no", _("No"))]
        elif kind == "choice":
            for option in item["options"]:
                if isinstance(option, dict):
                    value = str(option["value"])
                    label = localized(option.get("label"), language) or value
                else:
                    value = label = str(option)
                field_.options.append((value, label))
        elif kind == "likert":
            anchors = item.get("anchors") or {}
            for number in range(int(item["min"]), int(item["max"]) + 1):
                anchor = localized(anchors.get(str(number)), language)
                field_.options.append((str(number), f"{number} · {anchor}" if anchor else str(number)))
        items.append(field_)
    return items


class CheckInForm:
    """Turns a POST into answers for ``checkin_submit`` and carries errors back to the page."""

    def __init__(self, *, instrument, language: str, data=None) -> None:
        self.instrument = instrument
        self.items = checkin_items(instrument.definition, language)
        self.data = data
        self.errors: list[str] = []  # not tied to one item
        self.answers: dict[str, Any] = {}
        self.share = False
        if data is None:
            for item in self.items:
                item.skipped = item.can_skip  # not answered until the partner says so
        else:
            self._read(data)

    @property
    def instrument_marker(self) -> str:
        """Which definition the page was drawn from; a POST for another is refused."""
        return f"{self.instrument.pk}:{self.instrument.version}"

    def _read(self, data) -> None:
        by_code = {item.code: item for item in self.items}
        known = {CSRF_FIELD, INSTRUMENT_FIELD, SHARE_FIELD}
        known |= set(by_code)
        known |= {item.skip_name for item in self.items if item.can_skip}
        self.share = data.get(SHARE_FIELD) == "on"
        for item in self.items:
            item.value = data.get(item.code, "")
            item.skipped = item.can_skip and data.get(item.skip_name) == "on"
            if not item.skipped and item.value != "":
                self.answers[item.code] = item.value
        if data.get(INSTRUMENT_FIELD) != self.instrument_marker:
            self.errors.append(
                _("This form does not match your check-in. Nothing was saved; please try again.")
            )
        unknown = sorted(set(data) - known)
        if unknown or any(len(data.getlist(key)) > 1 for key in known - {CSRF_FIELD}):
            self.errors.append(_("The form contained something we did not expect. Nothing was saved."))

    def is_valid(self) -> bool:
        return self.data is not None and not self.errors

    def add_service_errors(self, error_dict: dict) -> None:
        """ValidationError.error_dict from checkin_submit, keyed by item code."""
        by_code = {item.code: item for item in self.items}
        for key, errors in error_dict.items():
            messages = [translate_answer_error(message) for error in errors for message in error.messages]
            if key in by_code:
                by_code[key].error = " ".join(messages)
            else:
                self.errors.append(_("The form contained something we did not expect. Nothing was saved."))
        # One summary line per cause is enough.
        self.errors = list(dict.fromkeys(self.errors))

    @property
    def item_errors(self) -> list[ItemField]:
        return [item for item in self.items if item.error]

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.item_errors)


# EPISODES
# ------------------------------------------------------------------------------
class EpisodeRole:
    I_PURSUED = "i_pursued"
    PARTNER_PURSUED = "partner_pursued"
    UNSURE = "unsure"


class PartnerEpisodeForm(EpisodeForm):
    """A partner's own log of an episode (the fields and their checks are ``EpisodeForm``'s).
    Times are read in the partner's zone (the view activates it); who pursued is said as
    "which way did each of you move"; a yes/no pair of radios asks about repair; the service
    has the last word on every rule."""

    # Errors come from the server in the partner's language, not from the browser's bubbles.
    use_required_attribute = False
    labels = {
        "occurred_at": gettext_lazy("When did it happen?"),
        "intensity": gettext_lazy("How intense was it? (0 barely, 10 the most)"),
        "duration_minutes": gettext_lazy("About how many minutes did it last?"),
        "trigger": gettext_lazy("What set it off? (optional)"),
        "notes": gettext_lazy("Anything else you want to remember? (optional)"),
    }
    repair_unconfirmed = gettext_lazy("Say a repair was tried before saying whether it helped.")
    field_order = [
        "occurred_at",
        "intensity",
        "role",
        "duration_minutes",
        "repair_attempted",
        "repair_worked",
        "trigger",
        "notes",
        "shared_with_partner",
        "form_nonce",
    ]

    role = forms.ChoiceField(
        label=gettext_lazy("Which way did each of you move?"),
        choices=[
            (EpisodeRole.I_PURSUED, gettext_lazy("I moved toward my partner; they moved away")),
            (EpisodeRole.PARTNER_PURSUED, gettext_lazy("My partner moved toward me; I moved away")),
            (EpisodeRole.UNSURE, gettext_lazy("Not sure, or neither")),
        ],
        widget=forms.RadioSelect,
    )
    repair_attempted = forms.TypedChoiceField(
        label=gettext_lazy("Did either of you try to repair?"),
        choices=YES_NO,
        coerce=answered_yes,
        empty_value=False,
        widget=forms.RadioSelect,
        required=False,
    )
    repair_worked = forms.TypedChoiceField(
        label=gettext_lazy("Did the repair help?"),
        choices=[*YES_NO, ("unsure", gettext_lazy("Not sure"))],
        coerce=repair_outcome,
        empty_value=None,
        widget=forms.RadioSelect,
        required=False,
    )
    shared_with_partner = forms.BooleanField(
        label=gettext_lazy("Let my partner see this episode"),
        required=False,
    )
    # One per rendered form: a second POST of the same form (a double tap) saves nothing more.
    form_nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def service_arguments(self, *, partner: Partner, other: Partner | None) -> dict[str, Any]:
        """The cleaned form as keyword arguments of ``episode_record``."""
        data = self.cleaned_data
        pursuer = withdrawer = None
        if data["role"] == EpisodeRole.I_PURSUED:
            pursuer, withdrawer = partner, other
        elif data["role"] == EpisodeRole.PARTNER_PURSUED:
            pursuer, withdrawer = other, partner
        return {
            "occurred_at": data["occurred_at"],
            "intensity": data["intensity"],
            "pursuer": pursuer,
            "withdrawer": withdrawer,
            "duration_minutes": data.get("duration_minutes"),
            "repair_attempted": data["repair_attempted"],
            "repair_worked": data["repair_worked"],
            "trigger": data.get("trigger", ""),
            "notes": data.get("notes", ""),
            "shared_with_partner": bool(data.get("shared_with_partner")),
        }
