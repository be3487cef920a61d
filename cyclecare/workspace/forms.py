"""Forms of the clinician workspace. They parse and label input; every rule that must hold is
the service's, whose ValidationError the view hands back to the form
(``clinician.forms.add_service_errors``)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from clinician.models import Clinician, SessionNote, TherapySession
from clinician.validators import validate_time_zone

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
