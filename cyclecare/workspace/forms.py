"""Forms of the clinician workspace. They parse and label input; every rule that must hold is
the service's, whose ValidationError the view hands back to the form
(``clinician.forms.add_service_errors``)."""

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinician.models import Clinician
from clinician.validators import validate_time_zone
from couples.models import Consent, Couple, Partner, SessionNote, TherapySession
from couples.services import PARTNER_FIELDS
from cyclecare.forms import EpisodeForm
from cyclecare.intake import ConsentIntake, PartnerIntake
from cyclecare.models import Assignment, Move

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
TEXT_MAX = 20_000  # the API's limit for a note section or an addendum


class NoteTextField(forms.CharField):
    """Note text as typed: browsers submit a textarea's line breaks as CRLF; store LF, so what
    the API wrote and what a form re-submits compare equal."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n") if value else value


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=DATETIME_LOCAL)


class AccessibleErrorsMixin:
    """A field with an error says so to assistive technology: aria-invalid, and
    aria-describedby pointing at the message the templates render as ``<id>-error``."""

    def add_error(self, field, error):
        super().add_error(field, error)
        for name in self.errors:
            if name in self.fields:
                bound = self[name]
                bound.field.widget.attrs.update(
                    {"aria-invalid": "true", "aria-describedby": f"{bound.auto_id}-error"}
                )


class SessionScheduleForm(AccessibleErrorsMixin, forms.Form):
    """Book a session. ``starts_at`` is read in the active time zone (the view activates the
    practice's), which also rejects a local time that a DST change skips or repeats."""

    starts_at = forms.DateTimeField(label=_("Starts"), widget=DateTimeLocalInput())
    kind = forms.ChoiceField(
        label=_("Session"),
        choices=TherapySession.Kind.choices,
        initial=TherapySession.Kind.JOINT,
        widget=forms.RadioSelect,
    )
    partner = forms.ModelChoiceField(
        label=_("Partner seen (individual session)"),
        queryset=None,
        required=False,
        empty_label=_("— choose for an individual session —"),
    )
    modality = forms.ChoiceField(
        label=_("Modality"),
        choices=TherapySession.Modality.choices,
        initial=TherapySession.Modality.IN_PERSON,
    )
    duration_minutes = forms.IntegerField(label=_("Minutes"), min_value=5, max_value=480, initial=50)

    def __init__(self, *args, partners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partners
        self.fields["partner"].label_from_instance = lambda partner: partner.display_name

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == TherapySession.Kind.JOINT:
            cleaned["partner"] = None  # a stale choice in the hidden-by-intent field is ignored
        elif cleaned.get("kind") == TherapySession.Kind.INDIVIDUAL and not cleaned.get("partner"):
            self.add_error("partner", _("Choose the partner seen in an individual session."))
        return cleaned


class SessionRescheduleForm(AccessibleErrorsMixin, forms.Form):
    starts_at = forms.DateTimeField(label=_("New start"), widget=DateTimeLocalInput())


class SessionOutcomeForm(AccessibleErrorsMixin, forms.Form):
    """What happened: held (with who attended), cancelled or a no-show."""

    status = forms.ChoiceField(
        label=_("Outcome"),
        choices=[c for c in TherapySession.Status.choices if c[0] != TherapySession.Status.SCHEDULED],
        widget=forms.RadioSelect,
    )
    attendees = forms.ModelMultipleChoiceField(
        label=_("Who attended"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, partners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attendees"].queryset = partners
        self.fields["attendees"].label_from_instance = lambda partner: partner.display_name


class NoteStartForm(AccessibleErrorsMixin, forms.Form):
    format = forms.ChoiceField(
        label=_("Note format"),
        choices=SessionNote.Format.choices,
        initial=SessionNote.Format.DAP,
        widget=forms.RadioSelect,
    )


SECTION_LABELS = {
    "data": _("Data"),
    "subjective": _("Subjective"),
    "objective": _("Objective"),
    "behavior": _("Behavior"),
    "intervention": _("Intervention"),
    "response": _("Response"),
    "assessment": _("Assessment"),
    "plan": _("Plan"),
}
SECTION_ORDER = (
    "data",
    "subjective",
    "objective",
    "behavior",
    "intervention",
    "response",
    "assessment",
    "plan",
)
CYCLE_TEXT_LABELS = {
    "interventions": _("Interventions"),
    "homework_assigned": _("Homework assigned"),
    "safety_review": _("Safety review"),
}
STAGE_CHOICES = [
    ("", _("—")),
    (1, _("1 · De-escalation")),
    (2, _("2 · Restructuring")),
    (3, _("3 · Consolidation")),
]
STEP_CHOICES = [
    ("", _("—")),
    (1, _("1 · Assessment")),
    (2, _("2 · Identify the negative cycle")),
    (3, _("3 · Access underlying emotions")),
    (4, _("4 · Reframe the problem as the cycle")),
    (5, _("5 · Disowned needs")),
    (6, _("6 · Acceptance")),
    (7, _("7 · Expressing needs")),
    (8, _("8 · New solutions to old problems")),
    (9, _("9 · Consolidate new positions")),
]


def formats_of(section: str) -> list[str]:
    return [fmt for fmt, sections in SessionNote.SECTIONS.items() if section in sections]


class NoteForm(AccessibleErrorsMixin, forms.ModelForm):
    """The draft: every format's sections (the page shows the chosen format's) and the cycle
    section. Saved through note_update_draft, never form.save()."""

    eft_stage = forms.TypedChoiceField(
        label=_("EFT stage"), choices=STAGE_CHOICES, coerce=int, empty_value=None, required=False
    )
    eft_step = forms.TypedChoiceField(
        label=_("EFT step"), choices=STEP_CHOICES, coerce=int, empty_value=None, required=False
    )

    class Meta:
        model = SessionNote
        fields = [
            "format",
            *SECTION_ORDER,
            "eft_stage",
            "eft_step",
            "partner_a_move",
            "partner_a_position",
            "partner_b_move",
            "partner_b_position",
            "interventions",
            "homework_assigned",
            "safety_review",
        ]
        widgets = {"format": forms.RadioSelect}

    def __init__(self, *args, partners=(), **kwargs):
        super().__init__(*args, **kwargs)
        for name in (*SECTION_ORDER, "partner_a_position", "partner_b_position", *CYCLE_TEXT_LABELS):
            self.fields[name] = NoteTextField(
                label=SECTION_LABELS.get(name) or CYCLE_TEXT_LABELS.get(name, ""),
                required=False,
                max_length=TEXT_MAX,
                widget=forms.Textarea(attrs={"rows": 5 if name in SECTION_LABELS else 3}),
            )
        self.fields["format"].choices = SessionNote.Format.choices
        self.fields["format"].required = False  # absent from a POST: the note keeps its format
        names = {partner.seat: partner.display_name for partner in partners}
        for seat, prefix in ((1, "partner_a"), (2, "partner_b")):
            who = names.get(seat) or (_("Partner A") if seat == 1 else _("Partner B"))
            self.fields[f"{prefix}_move"].label = _("%(who)s: move") % {"who": who}
            self.fields[f"{prefix}_move"].choices = [("", _("—")), *SessionNote.PartnerMove.choices]
            self.fields[f"{prefix}_position"].label = _("%(who)s: position") % {"who": who}

    def _post_clean(self) -> None:
        # The note service validates the whole note (full_clean, stage/step agreement) under its
        # row lock; validating a model instance here as well would only say it twice.
        pass

    def changes(self) -> dict:
        """The submitted values that differ from the note as stored. A field the request did
        not send is left alone (never blanked), so a partial or stale POST cannot erase text."""
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name in self.data and getattr(self.instance, name) != value
        }

    def section_fields(self) -> list[tuple[forms.BoundField, list[str]]]:
        return [(self[name], formats_of(name)) for name in SECTION_ORDER]


class AddendumForm(AccessibleErrorsMixin, forms.Form):
    body = NoteTextField(
        label=_("Addendum"),
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": _("Write the addendum.")},
    )


# INTAKE
# ------------------------------------------------------------------------------
SEATS = ("a", "b")
CONSENT_KINDS = (
    ("treatment", _("Treatment")),
    ("email", _("Email messages")),
    ("sms", _("Text messages")),
    ("sharing", _("Sharing check-ins with their partner (if they choose)")),
)
CLINICIAN_METHODS = [(value, label) for value, label in Consent.Method.choices if value != "electronic"]


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%H:%M")


class IntakeForm(AccessibleErrorsMixin, forms.Form):
    """A new couple (two partners) or an individual case (one), each partner's details and
    consents. Field names are the service's: ``a_<field>`` / ``b_<field>`` per partner, so
    ``cyclecare.intake``'s errors land on the field they name. The one-time ``intake_token``
    makes a repeated POST return the first case."""

    intake_token = forms.CharField(widget=forms.HiddenInput, max_length=64)
    kind = forms.ChoiceField(
        label=_("Who is coming to therapy?"),
        choices=[
            (Couple.Kind.COUPLE, _("A couple (two partners)")),
            (Couple.Kind.INDIVIDUAL, _("One partner on their own (individual case)")),
        ],
        initial=Couple.Kind.COUPLE,
        widget=forms.RadioSelect,
    )
    label = forms.CharField(
        label=_("Case label"),
        max_length=120,
        help_text=_("How the clinic refers to them, e.g. “Rivera & Chen”. Seen by clinic staff only."),
    )

    def __init__(self, *args, time_zone: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for seat in SEATS:
            optional = seat == "b"  # required for a couple, checked in clean()
            self.fields[f"{seat}_display_name"] = forms.CharField(
                label=_("Name"), max_length=120, required=not optional
            )
            self.fields[f"{seat}_pronouns"] = forms.CharField(
                label=_("Pronouns (optional)"), max_length=40, required=False
            )
            self.fields[f"{seat}_email"] = forms.EmailField(label=_("Email"), required=False)
            self.fields[f"{seat}_phone"] = forms.CharField(
                label=_("Mobile"),
                max_length=16,
                required=False,
                help_text=_("International form, e.g. +15551234567."),
                widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off", "inputmode": "tel"}),
            )
            self.fields[f"{seat}_time_zone"] = forms.CharField(
                label=_("Time zone"),
                max_length=64,
                initial=time_zone,
                required=not optional,
                help_text=_("Type to search, e.g. America/Chicago."),
                widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off"}),
            )
            self.fields[f"{seat}_language"] = forms.ChoiceField(
                label=_("Language"), choices=Partner.Language.choices, initial=Partner.Language.ENGLISH
            )
            self.fields[f"{seat}_preferred_channel"] = forms.ChoiceField(
                label=_("Reminders by"), choices=Partner.Channel.choices, initial=Partner.Channel.EMAIL
            )
            self.fields[f"{seat}_quiet_hours_start"] = forms.TimeField(
                label=_("Quiet hours from"), required=False, widget=TimeInput()
            )
            self.fields[f"{seat}_quiet_hours_end"] = forms.TimeField(
                label=_("Quiet hours until"), required=False, widget=TimeInput()
            )
            for kind, label in CONSENT_KINDS:
                self.fields[f"{seat}_consent_{kind}"] = forms.BooleanField(label=label, required=False)
            self.fields[f"{seat}_consent_method"] = forms.ChoiceField(
                label=_("How consent was given"),
                choices=CLINICIAN_METHODS,
                initial=Consent.Method.IN_SESSION,
            )

    def partner_fields(self, seat: str) -> dict:
        """The bound fields of one partner, grouped for the template."""
        return {
            "details": [self[f"{seat}_{name}"] for name in PARTNER_FIELDS],
            "consents": [self[f"{seat}_consent_{kind}"] for kind, _label in CONSENT_KINDS],
            "method": self[f"{seat}_consent_method"],
        }

    def seats(self) -> list[tuple[str, dict]]:
        return [(seat, self.partner_fields(seat)) for seat in SEATS]

    def clean(self):
        data = super().clean()
        if data.get("kind") == Couple.Kind.INDIVIDUAL:
            filled = [
                name for name in PARTNER_FIELDS if name not in ("time_zone", "language", "preferred_channel")
            ]
            consents = [f"b_consent_{kind}" for kind, _label in CONSENT_KINDS]
            if any(data.get(f"b_{name}") for name in filled) or any(data.get(name) for name in consents):
                self.add_error(
                    "b_display_name", _("An individual case has one partner: leave partner B empty.")
                )
        else:
            for name in ("display_name", "time_zone"):
                if not data.get(f"b_{name}") and f"b_{name}" not in self.errors:
                    self.add_error(f"b_{name}", _("This field is required."))
        return data

    def kind_value(self) -> str:
        return self.cleaned_data["kind"]

    def partner_intakes(self) -> list[PartnerIntake]:
        """What the service takes: one PartnerIntake per partner, the ticked consents with
        the partner's method."""
        seats = SEATS[:1] if self.kind_value() == Couple.Kind.INDIVIDUAL else SEATS
        intakes = []
        for seat in seats:
            data = {name: self.cleaned_data.get(f"{seat}_{name}") for name in PARTNER_FIELDS}
            method = self.cleaned_data[f"{seat}_consent_method"]
            intakes.append(
                PartnerIntake(
                    **{
                        name: value if value is not None else ""
                        for name, value in data.items()
                        if name not in ("quiet_hours_start", "quiet_hours_end")
                    },
                    quiet_hours_start=data["quiet_hours_start"],
                    quiet_hours_end=data["quiet_hours_end"],
                    consents=tuple(
                        ConsentIntake(kind=kind, granted=True, method=method)
                        for kind, _label in CONSENT_KINDS
                        if self.cleaned_data.get(f"{seat}_consent_{kind}")
                    ),
                )
            )
        return intakes


# CYCLE MAP AND EPISODES
# ------------------------------------------------------------------------------
MAP_TEXT_LIMIT = 20_000  # the API's limit for a cycle map's fields
# The position's fields in the order the clinic reads a map, with the names the page shows.
POSITION_LABELS = {
    "trigger": _("Trigger"),
    "perception": _("Perception (the meaning made of it)"),
    "surface_emotion": _("Surface emotion"),
    "move": _("Move"),
    "move_detail": _("How they pursue or withdraw"),
    "underlying_emotion": _("Underlying emotion"),
    "longing": _("Longing / attachment need"),
}
POSITION_HELP = {
    "trigger": _("What sets the cycle off for this partner."),
    "perception": _("What it means to them: “I don't matter”, “I'm failing”…"),
    "surface_emotion": _("Secondary: anger, frustration, numbness…"),
    "move_detail": _("Questions, criticism, following… or shutting down, leaving the room…"),
    "underlying_emotion": _("Primary: hurt, fear, shame, sadness…"),
    "longing": _("What they long for: to matter, to be enough, to be close…"),
}
TEXT_FIELDS = [name for name in POSITION_LABELS if name != "move"]


class PositionForm(forms.Form):
    """One partner's side of the loop (prefixed by the partner's id)."""

    move = forms.ChoiceField(
        label=POSITION_LABELS["move"],
        choices=Move.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose whether this partner pursues or withdraws.")},
    )

    def __init__(self, *args, partner: Partner, **kwargs):
        super().__init__(*args, prefix=f"p{partner.pk}", **kwargs)
        self.partner = partner
        for name in TEXT_FIELDS:
            self.fields[name] = forms.CharField(
                label=POSITION_LABELS[name],
                help_text=POSITION_HELP[name],
                required=False,
                max_length=MAP_TEXT_LIMIT,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
        # The page reads in POSITION_LABELS order.
        self.order_fields(list(POSITION_LABELS))


class MapSummaryForm(forms.Form):
    summary = forms.CharField(
        label=_("The loop in the couple's own words"),
        required=False,
        max_length=MAP_TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ClinicianEpisodeForm(EpisodeForm):
    """An episode the clinician observed (the fields and their checks are ``EpisodeForm``'s);
    the time is the practice's local time. The clinician names who pursued and who withdrew,
    and may link the session it was seen in."""

    field_order = [
        "occurred_at",
        "pursuer",
        "withdrawer",
        "intensity",
        "duration_minutes",
        "repair_attempted",
        "repair_worked",
        "trigger",
        "notes",
        "session",
    ]

    pursuer = forms.ChoiceField(label=_("Who pursued"), required=False)
    withdrawer = forms.ChoiceField(label=_("Who withdrew"), required=False)
    session = forms.ChoiceField(label=_("Seen in session (optional)"), required=False)

    def __init__(self, *args, partners: list[Partner], sessions, time_zone: str, **kwargs):
        super().__init__(*args, time_zone=time_zone, **kwargs)
        self.partners = {str(p.pk): p for p in partners}
        self.sessions = {str(s.pk): s for s in sessions}
        who = [("", _("Not recorded"))] + [(str(p.pk), p.display_name) for p in partners]
        self.fields["pursuer"].choices = who
        self.fields["withdrawer"].choices = who
        self.fields["session"].choices = [("", _("No session"))] + [
            (
                str(s.pk),
                f"{timezone.localtime(s.starts_at, self.time_zone):%a %d %b %Y, %H:%M} · "
                f"{s.get_kind_display()} · {s.get_status_display()}",
            )
            for s in sessions
        ]

    def clean(self) -> dict:
        data = super().clean()
        data["pursuer"] = self.partners.get(data.get("pursuer") or "")
        data["withdrawer"] = self.partners.get(data.get("withdrawer") or "")
        if data["pursuer"] is not None and data["pursuer"] == data["withdrawer"]:
            self.add_error("withdrawer", _("The pursuer and the withdrawer are different partners."))
        data["session"] = self.sessions.get(data.get("session") or "")
        return data


# HOMEWORK
# ------------------------------------------------------------------------------
WEEKDAY_CHOICES = [
    ("0", _("Mon")),
    ("1", _("Tue")),
    ("2", _("Wed")),
    ("3", _("Thu")),
    ("4", _("Fri")),
    ("5", _("Sat")),
    ("6", _("Sun")),
]


class HomeworkAssignForm(forms.Form):
    """The second click: who, and the schedule, prefilled from the template."""

    partners = forms.MultipleChoiceField(
        label=_("For"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose one or both partners.")},
    )
    schedule = forms.ChoiceField(label=_("Schedule"), choices=Assignment.Schedule.choices)
    local_time = forms.TimeField(
        label=_("Time of day (each partner's own time zone)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    weekdays = forms.MultipleChoiceField(
        label=_("Days"),
        help_text=_("Only for chosen weekdays (one or more) and weekly (exactly one)."),
        choices=WEEKDAY_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    hours_before_session = forms.IntegerField(
        label=_("Hours before each session"),
        help_text=_("Only for the schedule “hours before the next session” (1–168)."),
        min_value=1,
        max_value=168,
        required=False,
    )
    starts_on = forms.DateField(label=_("Starts on"), widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(
        label=_("Ends on (optional)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, couple_partners: list[Partner], **kwargs):
        super().__init__(*args, **kwargs)
        self.couple_partners = {str(p.pk): p for p in couple_partners}
        self.fields["partners"].choices = [(str(p.pk), p.display_name) for p in couple_partners]

    def clean(self):
        data = super().clean()
        data["partner_rows"] = [self.couple_partners[pk] for pk in data.get("partners", [])]
        data["weekday_mask"] = sum(1 << int(day) for day in data.get("weekdays", []))
        return data

    def overrides(self) -> dict:
        """The schedule the service validates; fields the schedule does not use are cleared."""
        data = self.cleaned_data
        schedule = data["schedule"]
        before = schedule == Assignment.Schedule.BEFORE_SESSION
        return {
            "schedule": schedule,
            "local_time": None if before else data.get("local_time"),
            "weekdays": data["weekday_mask"]
            if schedule in (Assignment.Schedule.WEEKDAYS, Assignment.Schedule.WEEKLY)
            else 0,
            "hours_before_session": data.get("hours_before_session") if before else None,
            "ends_on": data.get("ends_on"),
        }


# SEPARATION
# ------------------------------------------------------------------------------
NEITHER, BOTH = "neither", "both"
SEAT_CODES = {1: "a", 2: "b"}


class SeparationForm(forms.Form):
    """Who continues (a code, never an id), the date, and a reason code — no free text."""

    continuing = forms.ChoiceField(label=_("Who continues?"), widget=forms.RadioSelect)
    separated_on = forms.DateField(
        label=_("Date of the separation"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("The day joint work ended. Not in the future."),
    )
    separation_reason = forms.ChoiceField(label=_("Reason"))

    def __init__(self, *args, couple, partners, **kwargs) -> None:
        super().__init__(*args, **kwargs)

        self.couple = couple
        self.partners = {SEAT_CODES[p.seat]: p for p in partners}
        choices = [(NEITHER, _("Neither partner continues: the case closes"))]
        for code, partner in self.partners.items():
            choices.append(
                (code, _("Only %(name)s continues, individually") % {"name": partner.display_name})
            )
        if len(self.partners) == 2:
            choices.append((BOTH, _("Both continue, each in an individual case of their own")))
        self.fields["continuing"].choices = choices
        self.fields["separation_reason"].choices = [
            ("", _("Choose a reason…")),
            *Couple.SeparationReason.choices,
        ]

    def clean_separated_on(self) -> datetime.date:
        value = self.cleaned_data["separated_on"]
        if value > timezone.localdate():
            raise ValidationError(_("The separation date cannot be in the future."))
        if value < self.couple.started_on:
            raise ValidationError(_("The separation date is before the couple's treatment started."))
        return value

    def continuing_partners(self) -> list:
        code = self.cleaned_data["continuing"]
        if code == BOTH:
            return list(self.partners.values())
        return [self.partners[code]] if code in self.partners else []


# COUPLE AND PARTNER SETTINGS
# ------------------------------------------------------------------------------
class PartnerDetailsForm(AccessibleErrorsMixin, forms.Form):
    """A partner's details as the clinician types them. Which values are valid (an IANA zone, a
    number in E.164, a channel with its contact, quiet hours with both ends, the two partners'
    emails apart) is ``couples.services``' rule; its refusal lands on these fields."""

    display_name = forms.CharField(label=_("Name"), max_length=120)
    pronouns = forms.CharField(label=_("Pronouns (optional)"), max_length=40, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=16,
        required=False,
        help_text=_("In international form, e.g. +15551234567."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    time_zone = forms.CharField(
        label=_("Time zone"),
        max_length=64,
        help_text=_("Type to search, e.g. America/Chicago. Reminders follow it."),
        widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off", "spellcheck": "false"}),
    )
    language = forms.ChoiceField(label=_("Language"), choices=Partner.Language.choices)
    preferred_channel = forms.ChoiceField(label=_("Reminders by"), choices=Partner.Channel.choices)
    quiet_hours_start = forms.TimeField(
        label=_("Quiet hours from (optional)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    quiet_hours_end = forms.TimeField(
        label=_("Quiet hours until (optional)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("No reminder goes out in between, in the partner's time zone."),
    )

    @classmethod
    def initial_for(cls, partner: Partner) -> dict:
        return {name: getattr(partner, name) for name in cls.base_fields}

    def changes(self) -> dict:
        """The cleaned values, as the partner services take them ("" for no contact detail)."""
        return {name: self.cleaned_data[name] for name in self.fields}


class CoupleStatusForm(AccessibleErrorsMixin, forms.Form):
    status = forms.ChoiceField(
        label=_("Change the status to"),
        choices=[
            (Couple.Status.PAUSED, _("Paused: no reminders until resumed")),
            (Couple.Status.ACTIVE, _("Active: reminders resume")),
            (Couple.Status.DISCHARGED, _("Discharged: treatment ended, no reminders")),
        ],
    )


class CoupleTransferForm(AccessibleErrorsMixin, forms.Form):
    to_clinician = forms.ModelChoiceField(
        label=_("Transfer to"),
        queryset=Clinician.objects.none(),
        empty_label=_("Choose a colleague…"),
        help_text=_("An active clinician of your practice. They will treat the couple from now on."),
    )

    def __init__(self, *args, couple: Couple, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only whom the service would accept is offered; a crafted id still meets its check.
        self.fields["to_clinician"].queryset = (
            Clinician.objects.filter(
                practice_id=couple.practice_id,
                is_active=True,
                role__in=[Clinician.Role.CLINICIAN, Clinician.Role.SUPERVISOR],
            )
            .exclude(pk=couple.primary_clinician_id)
            .order_by("display_name")
        )
        self.fields["to_clinician"].label_from_instance = lambda clinician: clinician.display_name


class ConsentRecordForm(AccessibleErrorsMixin, forms.Form):
    partner = forms.TypedChoiceField(label=_("Partner"), coerce=int)
    kind = forms.ChoiceField(label=_("Consent"), choices=Consent.Kind.choices)
    granted = forms.TypedChoiceField(
        label=_("Decision"),
        choices=[("yes", _("Granted")), ("no", _("Withdrawn"))],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    method = forms.ChoiceField(
        label=_("How it was given"),
        choices=[
            (Consent.Method.WRITTEN, Consent.Method.WRITTEN.label),
            (Consent.Method.VERBAL, Consent.Method.VERBAL.label),
        ],
    )

    def __init__(self, *args, partners: list[Partner], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["partner"].choices = [(p.pk, p.display_name) for p in partners]


# PRACTICE ADMINISTRATION
# ------------------------------------------------------------------------------
class SupervisorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.display_name


class _SupervisorMixin:
    """The supervisor list: the practice's active supervisors (the service checks again)."""

    def _supervisors(self, practice, exclude=None) -> None:
        supervisors = Clinician.objects.filter(
            practice=practice, role=Clinician.Role.SUPERVISOR, is_active=True
        ).order_by("display_name")
        if exclude is not None:
            supervisors = supervisors.exclude(pk=exclude.pk)
        self.fields["supervisor"].queryset = supervisors


class ClinicianInviteForm(AccessibleErrorsMixin, _SupervisorMixin, forms.Form):
    email = forms.EmailField(
        label=_("Email"),
        help_text=_("The invitation goes here; it is also their sign-in name."),
        widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    display_name = forms.CharField(label=_("Name as colleagues see it"), max_length=120)
    role = forms.ChoiceField(
        label=_("Role"), choices=Clinician.Role.choices, initial=Clinician.Role.CLINICIAN
    )
    credentials = forms.CharField(
        label=_("Credentials"), max_length=60, required=False, help_text=_("e.g. LMFT, PhD")
    )
    is_prelicensed = forms.BooleanField(
        label=_("Pre-licensed (notes need a supervisor's co-signature)"), required=False
    )
    supervisor = SupervisorChoiceField(
        label=_("Supervisor"), queryset=Clinician.objects.none(), required=False, empty_label=_("— none —")
    )
    licence_number = forms.CharField(label=_("Licence number"), max_length=60, required=False)
    licence_jurisdiction = forms.CharField(label=_("Licence jurisdiction"), max_length=60, required=False)

    def __init__(self, *args, practice, **kwargs):
        super().__init__(*args, **kwargs)
        self._supervisors(practice)


class ClinicianRoleForm(AccessibleErrorsMixin, _SupervisorMixin, forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Clinician.Role.choices)
    supervisor = SupervisorChoiceField(
        label=_("Supervisor"), queryset=Clinician.objects.none(), required=False, empty_label=_("— none —")
    )

    def __init__(self, *args, clinician, **kwargs):
        kwargs.setdefault("initial", {"role": clinician.role, "supervisor": clinician.supervisor_id})
        super().__init__(*args, **kwargs)
        self._supervisors(clinician.practice, exclude=clinician)


class ClinicianDeactivateForm(AccessibleErrorsMixin, forms.Form):
    confirm = forms.BooleanField(
        label=_("I understand: their sign-in and API tokens stop working now."),
        error_messages={"required": _("Tick the box to confirm.")},
    )


class CrisisResourcesField(forms.CharField):
    """One resource a line, its name and how to reach it split by " | "."""

    widget = forms.Textarea(attrs={"rows": 4})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(f"{entry.get('name', '')} | {entry.get('contact', '')}" for entry in value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        resources = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            name, bar, contact = line.partition("|")
            if not bar or not name.strip() or not contact.strip():
                raise forms.ValidationError(
                    _("Line %(number)d: write the name, then “|”, then how to reach it."),
                    params={"number": number},
                )
            resources.append({"name": name.strip(), "contact": contact.strip()})
        return resources


class TimeZoneField(forms.CharField):
    """An IANA zone typed or picked from the suggestions (a datalist); the model's validator
    decides."""

    def __init__(self, **kwargs):
        super().__init__(
            max_length=64,
            widget=forms.TextInput(
                attrs={"list": "time-zones", "autocomplete": "off", "spellcheck": "false"}
            ),
            validators=[validate_time_zone],
            **kwargs,
        )


class PracticeSettingsForm(AccessibleErrorsMixin, forms.Form):
    name = forms.CharField(label=_("Practice name"), max_length=200)
    time_zone = TimeZoneField(label=_("Time zone"), help_text=_("An IANA name, e.g. America/Chicago."))
    sender_name = forms.CharField(
        label=_("Sender name"),
        max_length=70,
        required=False,
        help_text=_("The name partners see messages from. Empty: the practice's name."),
    )
    reminder_time = forms.TimeField(
        label=_("Default reminder time"),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("Each partner's local time, unless they choose another."),
    )
    quiet_hours_start = forms.TimeField(
        label=_("Quiet hours start"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    quiet_hours_end = forms.TimeField(
        label=_("Quiet hours end"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("No reminder is sent between these times; give both or neither."),
    )
    crisis_resources = CrisisResourcesField(
        label=_("Crisis resources"),
        required=False,
        help_text=_(
            "Shown to a partner after a safety answer. One a line: name | how to reach it. "
            "Empty: 988 and the National Domestic Violence Hotline."
        ),
    )


class DateInput(forms.DateInput):
    input_type = "date"


class ReportFilterForm(AccessibleErrorsMixin, forms.Form):
    """A report's filters as a GET form; its field names are the query parameters. It only
    shows and labels them: what a bad filter is, is ``cyclecare.reports.filters.parse_filters``'s
    (the view adds its FilterError messages to the fields). ``offered`` names the filters the
    report honours; ``clinicians`` are the caseloads the caller may report on (id, name);
    ``instruments`` the practice's (code, name)."""

    def __init__(self, data, *, offered, clinicians, instruments):
        super().__init__(data)
        fields = {
            "from": forms.CharField(label=_("From"), required=False, widget=DateInput()),
            "to": forms.CharField(label=_("To"), required=False, widget=DateInput()),
            "clinician": forms.CharField(
                label=_("Clinician"),
                required=False,
                widget=forms.Select(choices=[("", _("Everyone you report on"))] + list(clinicians)),
            ),
            "status": forms.CharField(
                label=_("Couple status"),
                required=False,
                widget=forms.Select(choices=[("", _("Any status"))] + list(Couple.Status.choices)),
            ),
            "instrument": forms.CharField(
                label=_("Instrument"),
                required=False,
                widget=forms.Select(choices=[("", _("Every instrument"))] + list(instruments)),
            ),
        }
        self.fields = {name: field for name, field in fields.items() if name in offered}


class AuditSearchForm(AccessibleErrorsMixin, forms.Form):
    """The audit trail's filters, as fields to fill in. Bound to the query string; what a filter
    may be is ``cyclecare.audit_trail.parse_audit_filters``'s to say — its refusals are added
    here beside the fields."""

    # "from" is a keyword, so the first field is added under that name below.
    to = forms.DateField(label=_("To"), required=False, widget=DateInput)
    clinician = forms.TypedChoiceField(label=_("Clinician"), required=False, coerce=int, empty_value=None)
    couple = forms.IntegerField(label=_("Couple id"), required=False, min_value=1)
    partner = forms.IntegerField(label=_("Partner id"), required=False, min_value=1)
    action = forms.CharField(
        label=_("Action"),
        required=False,
        max_length=64,
        help_text=_("Or its beginning: “note.” finds every note event."),
    )
    object_type = forms.CharField(label=_("Record type"), required=False, max_length=64)
    object_id = forms.CharField(label=_("Record id"), required=False, max_length=64)
    surface = forms.ChoiceField(label=_("Through"), required=False)

    def __init__(self, *args, clinicians=(), surfaces=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields = {
            "from": forms.DateField(label=_("From"), required=False, widget=DateInput),
            **self.fields,
        }
        self.fields["clinician"].choices = [("", _("Anyone")), *[(c.pk, c.display_name) for c in clinicians]]
        self.fields["surface"].choices = [("", _("Any surface")), *surfaces]


class ReportExportForm(AccessibleErrorsMixin, forms.Form):
    """The filters of a de-identified export, named as a report URL names them (``from``, ``to``,
    ``clinician``, ``status``, ``instrument``), and whether it leaves the practice. The form
    only types the input; cyclecare.reports.filters.parse_filters decides what is a bad filter."""

    def __init__(self, data=None, *, initial_filters, clinicians, instruments):
        super().__init__(data, initial={**initial_filters.params()})
        self.fields["from"] = forms.DateField(label=_("First day"), widget=DateInput(), required=False)
        self.fields["to"] = forms.DateField(
            label=_("Last day"), widget=DateInput(), required=False, help_text=_("Inclusive.")
        )
        self.fields["clinician"] = forms.ChoiceField(
            label=_("Clinician"),
            required=False,
            choices=[("", _("All clinicians"))]
            + [(str(row["id"]), row["display_name"]) for row in clinicians],
            help_text=_("The couples whose primary clinician this is."),
        )
        self.fields["status"] = forms.ChoiceField(
            label=_("Couple status"), required=False, choices=[("", _("Any status")), *Couple.Status.choices]
        )
        self.fields["instrument"] = forms.ChoiceField(
            label=_("Instrument"), required=False, choices=[("", _("All instruments")), *instruments]
        )
        self.fields["leaving_practice"] = forms.BooleanField(
            label=_("This export leaves the practice"),
            required=False,
            help_text=_(
                "Any count of fewer than 5 couples reads “< 5”; check-ins of an instrument in a "
                "month fewer than 5 couples answered are left out; days become months."
            ),
        )

    def params(self) -> dict[str, str]:
        """The filters as query parameters, for parse_filters."""
        data = self.cleaned_data
        values = {
            "from": data["from"].isoformat() if data.get("from") else "",
            "to": data["to"].isoformat() if data.get("to") else "",
            "clinician": data.get("clinician") or "",
            "status": data.get("status") or "",
            "instrument": data.get("instrument") or "",
        }
        return {name: value for name, value in values.items() if value}


# A PARTNER'S RECORDS, ERASURE, RETENTION
# ------------------------------------------------------------------------------
class RecordsPrepareForm(AccessibleErrorsMixin, forms.Form):
    """The joint-session notes to release with a partner's records (ticked: released)."""

    notes = forms.TypedMultipleChoiceField(
        label=_("Joint-session notes to release"),
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Only what you tick is released, note by note; nothing else of the joint record is included."
        ),
    )

    email_link = forms.BooleanField(
        label=_("Also email the link to the partner"),
        required=False,
        help_text=_(
            "Sent only to an address on file with email consent; the link is shown to you either way."
        ),
    )

    def __init__(self, *args, notes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["notes"].choices = [
            (
                note.pk,
                _("Joint session of %(date)s (%(format)s note)")
                % {"date": f"{note.session.starts_at:%Y-%m-%d}", "format": note.get_format_display()},
            )
            for note in notes
        ]


class PartnerEraseForm(AccessibleErrorsMixin, forms.Form):
    """Typed confirmation: the partner's name as it stands, exactly."""

    confirmation = forms.CharField(
        label=_("Type the partner's name to confirm"),
        max_length=120,
        help_text=_("Their name exactly as shown above."),
    )

    def __init__(self, *args, partner, **kwargs):
        super().__init__(*args, **kwargs)
        self.partner = partner

    def clean_confirmation(self):
        typed = self.cleaned_data["confirmation"].strip()
        if typed != self.partner.display_name:
            raise ValidationError(_("That is not the partner's name as shown; nothing was erased."))
        return typed


class RetentionForm(AccessibleErrorsMixin, forms.Form):
    draft_note_days = forms.IntegerField(
        label=_("Draft notes (days)"),
        min_value=30,
        max_value=3650,
        help_text=_("Unsigned drafts not edited for this long are deleted. Signed notes are never deleted."),
    )
    delivery_log_days = forms.IntegerField(
        label=_("Reminder and welcome delivery logs (days)"),
        min_value=1,
        max_value=3650,
        help_text=_("Finished deliveries are deleted after this long; check-ins stay."),
    )
    webhook_log_days = forms.IntegerField(
        label=_("Webhook delivery logs (days)"), min_value=1, max_value=3650
    )
    used_link_days = forms.IntegerField(
        label=_("Used or expired partner links (days)"), min_value=1, max_value=3650
    )
    export_file_days = forms.IntegerField(
        label=_("Prepared records not downloaded (days)"),
        min_value=1,
        max_value=3650,
        help_text=_("A partner's prepared copy is purged this long after it was prepared."),
    )
