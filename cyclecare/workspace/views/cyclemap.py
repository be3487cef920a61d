"""The cycle map editor and clinician-recorded episodes.

The map is versioned: every save is a new version (``cycle_map_save``) and earlier versions
stay as history, each with the names of the fields that changed. The current map is drawn as
its loop in server-rendered SVG (cyclecare/workspace/cyclemap_diagram.py), with a text version beside it.
An episode the clinician records is followed by a suggestion of repair practice for the
partners in it, unless they already have it.
"""

import datetime
import zoneinfo

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinician.forms import add_service_errors
from clinician.models import Clinician
from clinician.selectors import get_or_404
from couples.models import Couple, Partner
from couples.selectors import couple_get_for, sessions_visible_to_clinically
from cyclecare import services
from cyclecare.models import CycleMap, Move
from cyclecare.selectors import cycle_maps_visible_to, episodes_visible_to

from ..cyclemap_diagram import diagram_for
from .common import clinician_required
from .homework import repair_suggestions

TEXT_LIMIT = 20_000  # the API's limit for the same fields
# The position's fields in the order the clinic reads a map, with the names the page shows.
POSITION_LABELS = {
    "trigger": gettext_lazy("Trigger"),
    "perception": gettext_lazy("Perception (the meaning made of it)"),
    "surface_emotion": gettext_lazy("Surface emotion"),
    "move": gettext_lazy("Move"),
    "move_detail": gettext_lazy("How they pursue or withdraw"),
    "underlying_emotion": gettext_lazy("Underlying emotion"),
    "longing": gettext_lazy("Longing / attachment need"),
}
POSITION_HELP = {
    "trigger": gettext_lazy("What sets the cycle off for this partner."),
    "perception": gettext_lazy("What it means to them: “I don't matter”, “I'm failing”…"),
    "surface_emotion": gettext_lazy("Secondary: anger, frustration, numbness…"),
    "move_detail": gettext_lazy("Questions, criticism, following… or shutting down, leaving the room…"),
    "underlying_emotion": gettext_lazy("Primary: hurt, fear, shame, sadness…"),
    "longing": gettext_lazy("What they long for: to matter, to be enough, to be close…"),
}
TEXT_FIELDS = [name for name in POSITION_LABELS if name != "move"]


# FORMS
# ------------------------------------------------------------------------------
class PositionForm(forms.Form):
    """One partner's side of the loop (prefixed by the partner's id)."""

    move = forms.ChoiceField(
        label=POSITION_LABELS["move"],
        choices=Move.choices,
        widget=forms.RadioSelect,
        error_messages={"required": gettext_lazy("Choose whether this partner pursues or withdraws.")},
    )

    def __init__(self, *args, partner: Partner, **kwargs):
        super().__init__(*args, prefix=f"p{partner.pk}", **kwargs)
        self.partner = partner
        for name in TEXT_FIELDS:
            self.fields[name] = forms.CharField(
                label=POSITION_LABELS[name],
                help_text=POSITION_HELP[name],
                required=False,
                max_length=TEXT_LIMIT,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
        # The page reads in POSITION_LABELS order.
        self.order_fields(list(POSITION_LABELS))


class MapSummaryForm(forms.Form):
    summary = forms.CharField(
        label=gettext_lazy("The loop in the couple's own words"),
        required=False,
        max_length=TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


# VERSIONS
# ------------------------------------------------------------------------------
def _position_values(cycle_map: CycleMap | None) -> dict[int, dict[str, str]]:
    if cycle_map is None:
        return {}
    return {
        p.partner_id: {name: getattr(p, name) for name in POSITION_LABELS} for p in cycle_map.positions.all()
    }


def map_changes(older: CycleMap | None, newer: CycleMap) -> list[str]:
    """What changed from one version to another, by field name (never the values)."""
    if older is None:
        return [_("First version")]
    changes = []
    if older.summary != newer.summary:
        changes.append(_("Summary"))
    before, after = _position_values(older), _position_values(newer)
    partners = {p.partner_id: p.partner for p in [*older.positions.all(), *newer.positions.all()]}
    for partner_id in sorted(partners, key=lambda pk: partners[pk].seat):
        name = partners[partner_id].display_name
        if partner_id not in before:
            changes.append(_("%(name)s added") % {"name": name})
        elif partner_id not in after:
            changes.append(_("%(name)s removed") % {"name": name})
        else:
            changed = [
                str(label)
                for field, label in POSITION_LABELS.items()
                if before[partner_id][field] != after[partner_id][field]
            ]
            if changed:
                changes.append(_("%(name)s: %(fields)s") % {"name": name, "fields": ", ".join(changed)})
    return changes


def _history(user, couple: Couple) -> list[CycleMap]:
    """Every version, newest first, each with ``changes`` from the one before it."""
    versions = list(
        cycle_maps_visible_to(user=user)
        .filter(couple=couple)
        .select_related("created_by")
        .order_by("version")
    )
    previous = None
    for version in versions:
        version.changes = map_changes(previous, version)
        previous = version
    return versions[::-1]


def _map_rows(cycle_map: CycleMap) -> list[dict]:
    """The text version of a map: one row per field, one cell per partner."""
    positions = sorted(cycle_map.positions.all(), key=lambda p: p.partner.seat)
    rows = []
    for field, label in POSITION_LABELS.items():
        cells = [p.get_move_display() if field == "move" else getattr(p, field) for p in positions]
        rows.append({"label": label, "cells": cells})
    return rows


def _map_context(cycle_map: CycleMap | None, diagram_id: str) -> dict:
    if cycle_map is None:
        return {}
    return {
        "diagram": diagram_for(cycle_map),
        "diagram_id": diagram_id,
        "map_partners": [p.partner for p in sorted(cycle_map.positions.all(), key=lambda p: p.partner.seat)],
        "map_rows": _map_rows(cycle_map),
    }


# VIEWS
# ------------------------------------------------------------------------------
@clinician_required
def cycle_map(request: HttpRequest, clinician: Clinician, couple_id: int) -> HttpResponse:
    """The current map (diagram and text), the editor prefilled from it, and the history."""
    couple = couple_get_for(user=request.user, couple_id=couple_id)
    history = _history(request.user, couple)
    current = history[0] if history else None
    partners = couple.active_partners
    current_values = _position_values(current)
    status = 200
    if request.method == "POST":
        position_forms = [PositionForm(request.POST, partner=p) for p in partners]
        summary_form = MapSummaryForm(request.POST)
        if all(f.is_valid() for f in [*position_forms, summary_form]):
            positions = [{"partner": f.partner, **f.cleaned_data} for f in position_forms]
            unchanged = (
                current is not None
                and summary_form.cleaned_data["summary"] == current.summary
                and {f.partner.pk: f.cleaned_data for f in position_forms} == current_values
            )
            if not partners:
                summary_form.add_error(None, _("This couple has no active partner to map."))
            elif unchanged:
                summary_form.add_error(
                    None,
                    _("Nothing changed since version %(version)s, so no new version was saved.")
                    % {"version": current.version},
                )
            else:
                try:
                    saved = services.cycle_map_save(
                        user=request.user,
                        couple=couple,
                        positions=positions,
                        summary=summary_form.cleaned_data["summary"],
                    )
                except ValidationError as error:
                    add_service_errors(summary_form, error)
                else:
                    messages.success(request, _("Saved as version %(version)s.") % {"version": saved.version})
                    return redirect(reverse("cyclecare:clinician:cycle_map", args=[couple.pk]))
        status = 400
    else:
        position_forms = [PositionForm(initial=current_values.get(p.pk, {}), partner=p) for p in partners]
        summary_form = MapSummaryForm(initial={"summary": current.summary if current else ""})
    return render(
        request,
        "workspace/cyclemap.html",
        {
            "clinician": clinician,
            "couple": couple,
            "current": current,
            "history": history,
            "position_forms": position_forms,
            "summary_form": summary_form,
            "error_forms": [f for f in [summary_form, *position_forms] if f.errors],
            **_map_context(current, "cycle-map-current"),
        },
        status=status,
    )


@clinician_required
def cycle_map_version(
    request: HttpRequest, clinician: Clinician, couple_id: int, version: int
) -> HttpResponse:
    """One earlier (or the current) version, and what changed from the one before it and up to now."""
    couple = couple_get_for(user=request.user, couple_id=couple_id)
    history = _history(request.user, couple)
    shown = next((v for v in history if v.version == version), None)
    if shown is None:
        raise Http404
    current = history[0]
    return render(
        request,
        "workspace/cyclemap_version.html",
        {
            "clinician": clinician,
            "couple": couple,
            "shown": shown,
            "current": current,
            "since": map_changes(shown, current) if shown is not current else [],
            "history": history,
            **_map_context(shown, f"cycle-map-v{shown.version}"),
        },
    )


# EPISODES
# ------------------------------------------------------------------------------
REPAIR_WORKED = [("", gettext_lazy("Not known")), ("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))]


class EpisodeForm(forms.Form):
    """An episode the clinician observed; the time is the practice's local time."""

    occurred_at = forms.DateTimeField(
        label=gettext_lazy("When it happened"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    pursuer = forms.ChoiceField(label=gettext_lazy("Who pursued"), required=False)
    withdrawer = forms.ChoiceField(label=gettext_lazy("Who withdrew"), required=False)
    intensity = forms.IntegerField(
        label=gettext_lazy("Intensity (0 barely – 10 most intense)"),
        min_value=0,
        max_value=10,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    duration_minutes = forms.IntegerField(
        label=gettext_lazy("How long it lasted (minutes, optional)"),
        min_value=0,
        max_value=10_000,
        required=False,
    )
    repair_attempted = forms.BooleanField(label=gettext_lazy("A repair was attempted"), required=False)
    repair_worked = forms.ChoiceField(
        label=gettext_lazy("Did the repair work?"), choices=REPAIR_WORKED, required=False
    )
    trigger = forms.CharField(
        label=gettext_lazy("What set it off (optional)"),
        required=False,
        max_length=TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    notes = forms.CharField(
        label=gettext_lazy("Notes (optional)"),
        required=False,
        max_length=TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    session = forms.ChoiceField(label=gettext_lazy("Seen in session (optional)"), required=False)

    def __init__(self, *args, partners: list[Partner], sessions, time_zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone = zoneinfo.ZoneInfo(time_zone)
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

    def clean_occurred_at(self) -> datetime.datetime:
        value = self.cleaned_data["occurred_at"]
        # The clinician types the practice's wall-clock time (fold=0 in a repeated hour).
        return value.replace(tzinfo=None).replace(tzinfo=self.time_zone)

    def clean(self):
        data = super().clean()
        data["pursuer"] = self.partners.get(data.get("pursuer") or "")
        data["withdrawer"] = self.partners.get(data.get("withdrawer") or "")
        if data["pursuer"] is not None and data["pursuer"] == data["withdrawer"]:
            self.add_error("withdrawer", _("The pursuer and the withdrawer are different partners."))
        data["repair_worked"] = {"yes": True, "no": False}.get(data.get("repair_worked") or "")
        if data["repair_worked"] is not None and not data.get("repair_attempted"):
            self.add_error("repair_worked", _("Say a repair was attempted before saying whether it worked."))
        data["session"] = self.sessions.get(data.get("session") or "")
        return data


@clinician_required
def episode_new(request: HttpRequest, clinician: Clinician, couple_id: int) -> HttpResponse:
    couple = couple_get_for(user=request.user, couple_id=couple_id)
    time_zone = couple.practice.time_zone
    sessions = list(
        sessions_visible_to_clinically(user=request.user).filter(couple=couple).order_by("-starts_at")[:30]
    )
    form_kwargs = {"partners": couple.active_partners, "sessions": sessions, "time_zone": time_zone}
    status = 200
    if request.method == "POST":
        form = EpisodeForm(request.POST, **form_kwargs)
        if form.is_valid():
            try:
                episode = services.episode_record(actor=request.user, couple=couple, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Episode recorded."))
                return redirect(reverse("cyclecare:clinician:episode", args=[couple.pk, episode.pk]))
        status = 400
    else:
        now = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(time_zone)).replace(
            second=0, microsecond=0
        )
        initial = {"occurred_at": now.replace(tzinfo=None), "intensity": 5}
        # "Record an episode seen in this session" on a note links here with ?session=<id>: the
        # session is preselected (and its start time used) if it is one of this couple's.
        seen_in = next((s for s in sessions if str(s.pk) == request.GET.get("session", "")), None)
        if seen_in is not None:
            initial["session"] = str(seen_in.pk)
            initial["occurred_at"] = timezone.localtime(
                seen_in.starts_at, zoneinfo.ZoneInfo(time_zone)
            ).replace(tzinfo=None)
        form = EpisodeForm(initial=initial, **form_kwargs)
    return render(
        request,
        "workspace/episode_form.html",
        {
            "clinician": clinician,
            "couple": couple,
            "form": form,
            "error_forms": [form] if form.errors else [],
            "time_zone": time_zone,
        },
        status=status,
    )


@clinician_required
def episode_detail(
    request: HttpRequest, clinician: Clinician, couple_id: int, episode_id: int
) -> HttpResponse:
    """A recorded episode, and the repair practice to suggest to the partners in it."""
    couple = couple_get_for(user=request.user, couple_id=couple_id)
    episode = get_or_404(
        episodes_visible_to(user=request.user).filter(couple=couple).select_related("session"), episode_id
    )
    involved = [p for p in (episode.pursuer, episode.withdrawer) if p is not None and p.is_active]
    return render(
        request,
        "workspace/episode_recorded.html",
        {
            "clinician": clinician,
            "couple": couple,
            "episode": episode,
            "suggestions": repair_suggestions(
                user=request.user, couple=couple, partners=involved or couple.active_partners
            ),
            "time_zone": couple.practice.time_zone,
        },
    )


urlpatterns: list = [
    path("couples/<int:couple_id>/cycle-map/", cycle_map, name="cycle_map"),
    path(
        "couples/<int:couple_id>/cycle-map/versions/<int:version>/",
        cycle_map_version,
        name="cycle_map_version",
    ),
    path("couples/<int:couple_id>/episodes/new/", episode_new, name="episode_new"),
    path("couples/<int:couple_id>/episodes/<int:episode_id>/", episode_detail, name="episode"),
]
