"""The couple page: one timeline, the between-session charts and the cycle metrics.

Every read goes through the scoped selectors (the couple itself through ``couples_visible_to``, so a
couple out of the user's clinical scope is a 404); the figures come from ``cyclecare.trends``
(aggregated in SQL) and are drawn by ``cyclecare.charts``. The page costs a fixed number of
queries however long the couple's history.
"""

import datetime
import zoneinfo

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from clinician.audit import audit_record
from clinician.conf import cyclecare_settings
from clinician.models import Clinician
from clinician.selectors import get_or_404
from couples.models import Partner, TherapySession
from couples.selectors import couples_visible_to, notes_visible_to, sessions_visible_to_clinically
from cyclecare import charts, trends
from cyclecare import selectors as cycle
from cyclecare.reliable_change import baseline_annotations, baselines_from_row
from cyclecare.welcome import partners_with_welcome, welcome_status_for

from .common import clinician_required

# The timeline shows this many weeks at a time (with "earlier" / "later" links), plus the
# sessions already scheduled in the weeks ahead; the weekly charts cover CHART_WEEKS.
WINDOW_WEEKS = 4
AHEAD_WEEKS = 4
CHART_WEEKS = 26
METRIC_WEEKS = 4
MODALITIES = dict(TherapySession.Modality.choices)
KIND_LABELS = {
    "session": _lazy("Session"),
    "episode": _lazy("Episode"),
    "checkin": _lazy("Check-in"),
    "flag": _lazy("Safety flag"),
}
SESSION_STATUSES = {
    "scheduled": _lazy("scheduled"),
    "held": _lazy("held"),
    "cancelled": _lazy("cancelled"),
    "no_show": _lazy("no-show"),
}
NOTE_STATUSES = {"draft": _lazy("draft"), "signed": _lazy("signed")}
FLAG_STATUSES = {
    "open": _lazy("open — review"),
    "acknowledged": _lazy("acknowledged"),
    "resolved": _lazy("resolved"),
}


@clinician_required
def couple_page(request: HttpRequest, clinician: Clinician, couple_id: int) -> HttpResponse:
    # cyclecare depends on clinician, not the other way round: only the pages reach back.

    user = request.user
    # The clinical scope's couple (else 404), its active partners read with their welcome.
    partners_now = partners_with_welcome(Partner.objects.filter(is_active=True).order_by("seat"))
    couple = get_or_404(
        couples_visible_to(user=user)
        .prefetch_related(None)
        .prefetch_related(Prefetch("partners", queryset=partners_now, to_attr="active_partners")),
        couple_id,
    )
    zone = zoneinfo.ZoneInfo(clinician.practice.time_zone)
    now = timezone.now()
    today = now.astimezone(zone).date()
    window = _window(request.GET.get("before"), today=today, zone=zone, now=now)

    partners = list(couple.active_partners)
    partner_ids = tuple(p.pk for p in partners)
    names = {p.pk: p.display_name for p in partners}

    episodes = cycle.episodes_visible_to(user=user).filter(couple=couple)
    checkins = cycle.checkins_visible_to(user=user).filter(couple=couple)
    entries = trends.timeline_entries(
        sessions=sessions_visible_to_clinically(user=user).filter(couple=couple),
        notes=notes_visible_to(user=user),
        episodes=episodes,
        checkins=checkins,
        flags=cycle.safety_flags_visible_to(user=user).filter(couple=couple),
        since=window["since"],
        until=window["until"],
    )
    weeks = trends.weeks_ending(today, CHART_WEEKS)
    episode_weeks = trends.episode_weeks(episodes, partner_ids=partner_ids, weeks=weeks, zone=zone)
    adherence = trends.adherence_weeks(
        cycle.occurrences_visible_to(user=user).filter(partner_id__in=partner_ids),
        partner_ids=partner_ids,
        weeks=weeks,
        zone=zone,
        now=now,
    )
    # The practice's intake baseline (the SD a CSI rule takes from the practice) rides on the
    # outcome scores' query as scalar subqueries: the page's query count does not change.
    outcome_rows = trends.outcome_scores(
        checkins, extra=baseline_annotations(practice_id=couple.practice_id, codes=trends.OUTCOME_CODES)
    )
    outcome = trends.dyadic_outcome(
        outcome_rows,
        partner_ids=partner_ids,
        baselines=baselines_from_row(outcome_rows[0], trends.OUTCOME_CODES) if outcome_rows else None,
    )

    # One read event for the page (ids only), not one per check-in, episode or flag shown.
    if cyclecare_settings.AUDIT_READS:
        audit_record(actor=user, action="couple.read", target=couple)

    chart_list = charts.episode_charts(episode_weeks)
    if partners:
        chart_list.append(charts.adherence_chart(weeks, adherence, names))
    outcome_chart = charts.outcome_chart(outcome, names, zone=zone) if outcome and partners else None
    recent = trends.cycle_metrics(episode_weeks[-METRIC_WEEKS:], partner_ids=partner_ids)
    before = trends.cycle_metrics(episode_weeks[-2 * METRIC_WEEKS : -METRIC_WEEKS], partner_ids=partner_ids)
    adherence_recent = {pid: trends.adherence_total(adherence[pid][-2:]) for pid in partner_ids}

    items = [_item(entry, names, now=now, zone=zone) for entry in entries]
    upcoming = [item for item in items if item["upcoming"]]
    return render(
        request,
        "workspace/couple.html",
        {
            "clinician": clinician,
            "couple": couple,
            "partners": partners,
            "time_zone": clinician.practice.time_zone,
            "window": window,
            "timeline": [item for item in items if not item["upcoming"]],
            "upcoming": upcoming,
            # One loop in the template: the sessions scheduled ahead, then the weeks shown.
            "timeline_groups": [
                {"heading": _("Scheduled"), "items": upcoming, "upcoming": True},
                {"heading": "", "items": [item for item in items if not item["upcoming"]], "upcoming": False},
            ],
            "next_session": next((i for i in reversed(upcoming) if i["entry"].status == "scheduled"), None),
            "charts": chart_list,
            "outcome_chart": outcome_chart,
            "outcome": outcome,
            "trajectories": [(names[pid], t) for pid, t in outcome.trajectories.items() if t]
            if outcome
            else [],
            "metrics": _metrics_rows(recent, before, names),
            "metric_weeks": METRIC_WEEKS,
            "ahead_weeks": AHEAD_WEEKS,
            "adherence_recent": [(names[pid], adherence_recent[pid]) for pid in partner_ids],
            "supervised": couple.primary_clinician_id != clinician.pk,
            "welcomes": welcome_status_for(partners=partners),
        },
    )


def _window(
    before: str | None, *, today: datetime.date, zone: zoneinfo.ZoneInfo, now: datetime.datetime
) -> dict:
    """The timeline's weeks: the latest (with sessions scheduled ahead), or the ones ending at
    ``?before=YYYY-MM-DD`` (exclusive). A bad date shows the latest weeks and says so."""
    error = ""
    end_day = None
    if before:
        try:
            end_day = datetime.date.fromisoformat(before)
        except ValueError:
            error = _("“%(value)s” is not a date (YYYY-MM-DD); showing the latest weeks.") % {
                "value": before[:40]
            }
        if end_day is not None and end_day > today:
            end_day = None
    if end_day is None:
        since_day = today - datetime.timedelta(weeks=WINDOW_WEEKS) + datetime.timedelta(days=1)
        until = now + datetime.timedelta(weeks=AHEAD_WEEKS)
        later = None
    else:
        since_day = end_day - datetime.timedelta(weeks=WINDOW_WEEKS)
        until = datetime.datetime.combine(end_day, datetime.time.min, tzinfo=zone)
        later_day = end_day + datetime.timedelta(weeks=WINDOW_WEEKS)
        later = "" if later_day > today else later_day.isoformat()
    return {
        "since": datetime.datetime.combine(since_day, datetime.time.min, tzinfo=zone),
        "until": until,
        "first_day": since_day,
        "last_day": (end_day - datetime.timedelta(days=1)) if end_day else today,
        "earlier": since_day.isoformat(),
        "later": later,  # None: this is the latest; "": the latest (no parameter); else a date
        "error": error,
        "is_latest": end_day is None,
    }


def _item(entry, names: dict[int, str], *, now: datetime.datetime, zone: zoneinfo.ZoneInfo) -> dict:
    """One timeline entry's words, composed here (a template would spend a translation tag per
    phrase on every one of the weeks' entries)."""
    former = _("a former partner")

    def name(partner_id: int | None) -> str | None:
        return None if partner_id is None else names.get(partner_id, former)

    local = entry.at.astimezone(zone)
    item = {
        "entry": entry,
        "iso": local.isoformat(),
        "when": charts.date_format(local, "D j M Y, H:i"),
        "upcoming": entry.kind == "session" and entry.at >= now,
        "flagged": entry.kind == "flag" and entry.status != "resolved",
        "kind_label": KIND_LABELS[entry.kind],
    }
    if entry.kind == "session":
        item["title"] = (
            _("Individual session with %(name)s") % {"name": name(entry.partner_id)}
            if entry.partner_id
            else _("Joint session")
        )
        item["meta"] = " · ".join(
            str(part)
            for part in [
                MODALITIES.get(entry.detail, ""),
                _("%(n)s min") % {"n": entry.number},
                SESSION_STATUSES[entry.status],
            ]
        )
        if entry.note_id:
            item["note_label"] = f"{entry.note_format.upper()} · {NOTE_STATUSES.get(entry.note_status, '')}"
    elif entry.kind == "episode":
        item["title"] = (
            _("clinician-observed, in session")
            if entry.status == "session"
            else _("reported by %(name)s") % {"name": name(entry.by_partner_id)}
        )
        parts = [_("intensity %(n)s/10") % {"n": entry.number}]
        if entry.minutes:
            parts.append(_("%(n)s min") % {"n": entry.minutes})
        if entry.partner_id:
            parts.append(_("%(name)s pursued") % {"name": name(entry.partner_id)})
        if entry.other_partner_id:
            parts.append(_("%(name)s withdrew") % {"name": name(entry.other_partner_id)})
        if not entry.yes:
            parts.append(_("no repair attempt"))
        elif entry.worked:
            parts.append(_("repair worked"))
        elif entry.worked is False:
            parts.append(_("repair tried, did not work"))
        else:
            parts.append(_("repair tried"))
        item["meta"] = " · ".join(parts)
    elif entry.kind == "checkin":
        item["title"] = f"{entry.detail} · {name(entry.partner_id)}"
        parts = []
        if entry.score is not None:
            parts.append(_("total %(total)s") % {"total": f"{entry.score:g}"})
        if entry.yes:
            parts.append(_("shared with partner"))
        item["meta"] = " · ".join(parts)
    else:
        item["title"] = _("From %(name)s") % {"name": name(entry.partner_id)}
        item["meta"] = FLAG_STATUSES.get(entry.status, "")
    return item


def _metrics_rows(recent, before, names: dict[int, str]) -> list[dict]:
    """The cycle metrics, the last weeks beside the weeks before, as table rows."""

    def fmt(value, pattern="{:.1f}"):
        return "—" if value is None else pattern.format(value)

    def pct(value):
        return "—" if value is None else f"{value * 100:.0f}%"

    rows = [
        {
            "name": _("Frequency (episodes per week)"),
            "recent": fmt(recent.per_week),
            "before": fmt(before.per_week),
        },
        {
            "name": _("Intensity (mean, 0–10)"),
            "recent": fmt(recent.mean_intensity),
            "before": fmt(before.mean_intensity),
        },
        {"name": _("Repair success"), "recent": pct(recent.repair_rate), "before": pct(before.repair_rate)},
        {
            "name": _("Time to repair (mean minutes, repaired episodes)"),
            "recent": fmt(recent.minutes_to_repair, "{:.0f}"),
            "before": fmt(before.minutes_to_repair, "{:.0f}"),
        },
    ]
    positions = {"pursue": _("pursuer"), "withdraw": _("withdrawer")}
    for now_r, then_r in zip(recent.rigidity, before.rigidity, strict=True):

        def describe(r):
            if r.share is None:
                return "—"
            return _("%(share)s as %(position)s (of %(n)s)") % {
                "share": pct(r.share),
                "position": positions[r.position],
                "n": r.episodes,
            }

        rows.append(
            {
                "name": _("Role rigidity: %(name)s") % {"name": names.get(now_r.partner_id, "")},
                "recent": describe(now_r),
                "before": describe(then_r),
            }
        )
    return rows


urlpatterns: list = [
    path("couples/<int:couple_id>/", couple_page, name="couple"),
]
