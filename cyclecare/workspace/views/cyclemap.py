"""The cycle map editor and clinician-recorded episodes.

The map is versioned: every save is a new version (``cycle_map_save``) and earlier versions
stay as history, each with the names of the fields that changed. The current map is drawn as
its loop in server-rendered SVG (cyclecare/workspace/cyclemap_diagram.py), with a text version beside it.
An episode the clinician records is followed by a suggestion of repair practice for the
partners in it, unless they already have it.
"""

import zoneinfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinician.forms import add_service_errors
from clinician.models import Clinician
from clinician.selectors import get_or_404
from couples.models import Couple
from couples.selectors import couple_get_for, sessions_visible_to_clinically
from cyclecare import services
from cyclecare.models import CycleMap
from cyclecare.selectors import cycle_maps_visible_to, episodes_visible_to

from ..cyclemap_diagram import diagram_for
from ..forms import POSITION_LABELS, ClinicianEpisodeForm, MapSummaryForm, PositionForm
from .common import clinician_required
from .homework import repair_suggestions


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
        form = ClinicianEpisodeForm(request.POST, **form_kwargs)
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
        form = ClinicianEpisodeForm(initial=initial, **form_kwargs)
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
