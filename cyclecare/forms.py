"""Forms of the cycle domain that both page families use.

An episode is recorded by the clinician on the workspace page and by a partner on their own
pages. What an episode *is* — its fields, their limits, and the checks a form can make before
``services.episode_record`` makes them all again — is written once, here; each page adds only
what differs for its reader (who pursued, or "which way did you move"; a session; sharing; the
wording and the widgets).
"""

import datetime
import zoneinfo

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cyclecare.services import CLOCK_SKEW

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
EPISODE_TEXT_LIMIT = 20_000  # the API's limit for an episode's trigger and notes
EPISODE_MINUTES_LIMIT = 10_000
YES_NO = [("yes", _("Yes")), ("no", _("No"))]


def answered_yes(value: str) -> bool:
    return value == "yes"


def repair_outcome(value: str) -> bool | None:
    """ "yes" and "no" are an outcome; anything else ("not known", "not sure") is none."""
    return {"yes": True, "no": False}.get(value)


class EpisodeForm(forms.Form):
    """An episode's own fields. Cleaned, ``repair_attempted`` is a bool and ``repair_worked``
    True, False or None, as ``episode_record`` takes them; ``occurred_at`` is aware.

    ``time_zone`` (optional) is the zone the typed wall-clock time is read in (fold=0 in a
    repeated hour); without it the active zone reads it. A page words the fields for its reader
    with ``labels`` and the repair message with ``repair_unconfirmed``."""

    labels: dict[str, str] = {}
    repair_unconfirmed = _("Say a repair was attempted before saying whether it worked.")

    occurred_at = forms.DateTimeField(
        label=_("When it happened"),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )
    intensity = forms.IntegerField(
        label=_("Intensity (0 barely – 10 most intense)"),
        min_value=0,
        max_value=10,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    duration_minutes = forms.IntegerField(
        label=_("How long it lasted (minutes, optional)"),
        min_value=0,
        max_value=EPISODE_MINUTES_LIMIT,
        required=False,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    repair_attempted = forms.BooleanField(label=_("A repair was attempted"), required=False)
    repair_worked = forms.TypedChoiceField(
        label=_("Did the repair work?"),
        choices=[("", _("Not known")), *YES_NO],
        coerce=repair_outcome,
        empty_value=None,
        required=False,
    )
    trigger = forms.CharField(
        label=_("What set it off (optional)"),
        required=False,
        max_length=EPISODE_TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    notes = forms.CharField(
        label=_("Notes (optional)"),
        required=False,
        max_length=EPISODE_TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, time_zone: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.time_zone = zoneinfo.ZoneInfo(time_zone) if time_zone else None
        for name, label in self.labels.items():
            self.fields[name].label = label

    def clean_occurred_at(self) -> datetime.datetime:
        occurred_at = self.cleaned_data["occurred_at"]
        if self.time_zone is not None:
            occurred_at = occurred_at.replace(tzinfo=None).replace(tzinfo=self.time_zone)
        if occurred_at > timezone.now() + CLOCK_SKEW:
            raise forms.ValidationError(_("An episode cannot be in the future."))
        return occurred_at

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("repair_worked") is not None and not cleaned.get("repair_attempted"):
            self.add_error("repair_worked", self.repair_unconfirmed)
        return cleaned
