"""The partner's pages: a check-in opened from a reminder, the partner's own history, and an
episode log they can keep between reminders.

Partners have no password. A reminder's link (cyclecare.partner_access) opens one check-in:
opening it (GET) only shows the form — mail scanners prefetch links — and the POST that saves
the check-in uses the link up. A valid link also starts a short partner session (12 hours) for
the pages that need no token: home, the episode log, sharing.

Every page is sent with no referrer, no caching and no indexing, in the partner's own language
and time zone (never the browser's, never the other partner's). State pages (expired, used,
unknown, someone else's) carry no partner or couple data.
"""

import secrets
import zoneinfo
from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from clinician.models import AuditEvent
from couples.models import Consent, Partner
from couples.selectors import consent_in_force, partners_reachable
from couples.services import consent_record, sharing_allowed
from cyclecare import charts, selectors, services
from cyclecare.disclosure import Reader, checkin_disclosed, item_disclosed
from cyclecare.models import CheckIn, CycleEpisode, PartnerLink
from cyclecare.partner_access import (
    LinkState,
    checkin_calls_for_crisis_resources,
    checkin_submit_via_link,
    crisis_resources_for,
    partner_link_resolve,
)
from cyclecare.records import ExportState, record_export_download, record_export_resolve
from cyclecare.reminders.dispatch import reminder_link_opened
from cyclecare.reminders.messages import first_name, stop_token_read
from cyclecare.welcome import welcome_link_opened

from .forms import CheckInForm, PartnerEpisodeForm, localized

NAMESPACE = "cyclecare:partner"
SESSION_PARTNER = "cyclecare_partner_id"
SESSION_LAST_CHECKIN = "cyclecare_last_checkin_id"
SESSION_EPISODE_FORMS = "cyclecare_episode_forms"
SESSION_SECONDS = 12 * 60 * 60
HISTORY_LENGTH = 14
CHART_ITEM = "connection"

# cyclecare's default crisis resources, listed so the Spanish catalog carries them; a
# practice's own resources are shown as the practice wrote them.
DEFAULT_CRISIS_TEXT = (
    gettext_noop("988 Suicide & Crisis Lifeline"),
    gettext_noop("Call or text 988"),
    gettext_noop("National Domestic Violence Hotline"),
    gettext_noop("1-800-799-7233 or text START to 88788"),
)


# EVERY PARTNER PAGE
# ------------------------------------------------------------------------------
def partner_view(*methods: str) -> Callable:
    """Methods allowed, Django's CSRF check, and the headers every partner page carries.

    ``Referrer-Policy: same-origin``: a URL holding a token is never sent to another site, and
    the browser still sends Origin on our own form posts, so Django's stock CSRF check works
    (``no-referrer`` makes browsers post ``Origin: null``, which it rightly refuses)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def reached(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            request._partner_view_reached = True
            return view(request, *args, **kwargs)

        protected = csrf_protect(require_http_methods(list(methods))(reached))

        @wraps(view)
        def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            response = protected(request, *args, **kwargs)
            if response.status_code == 403 and not getattr(request, "_partner_view_reached", False):
                # Refused by the CSRF check: a page a partner understands, with no data on it.
                viewer = _session_partner(request)
                response = _state_page(request, "csrf", language=viewer.language if viewer else None)
            response["Referrer-Policy"] = "same-origin"
            add_never_cache_headers(response)
            response["X-Robots-Tag"] = "noindex, nofollow"
            return response

        # The site-wide middleware stands aside; the same check runs inside, where its refusal
        # can be turned into the page above.
        page = csrf_exempt(wrapped)
        page.audit_surface = AuditEvent.Surface.PARTNER_PAGE
        return page

    return decorate


# RENDERING IN THE PARTNER'S LANGUAGE AND ZONE
# ------------------------------------------------------------------------------
def _page(
    request: HttpRequest,
    template: str,
    context: dict | None = None,
    *,
    partner: Partner | None = None,
    language: str | None = None,
    status: int = 200,
) -> HttpResponse:
    language = partner.language if partner else (language or translation.get_language())
    zone = zoneinfo.ZoneInfo(partner.time_zone) if partner else timezone.get_current_timezone()
    with translation.override(language), timezone.override(zone):
        response = render(request, template, context or {}, status=status)
    response["Content-Language"] = language
    return response


STATE_STATUS = {
    "invalid": 404,
    "not_found": 404,
    "expired": 410,
    "used": 410,
    "records_used": 410,
    "someone_else": 403,
    "no_session": 403,
    "csrf": 403,
    "signed_out": 200,
}


def _state_page(
    request: HttpRequest, state: str, *, language: str | None = None, signed_in: bool = False
) -> HttpResponse:
    """A page that says what happened to a link and shows nothing of anyone's data."""
    return _page(
        request,
        "partner/state.html",
        {"state": state, "signed_in": signed_in},
        language=language,
        status=STATE_STATUS[state],
    )


# THE PARTNER SESSION
# ------------------------------------------------------------------------------
def _session_partner(request: HttpRequest) -> Partner | None:
    partner_id = request.session.get(SESSION_PARTNER)
    if partner_id is None:
        return None
    return partners_reachable().select_related("couple", "practice").filter(pk=partner_id).first()


def _begin_partner_session(request: HttpRequest, partner: Partner) -> None:
    """A fresh session key for a partner arriving by a link (no fixation), for 12 hours."""
    request.session.cycle_key()
    request.session[SESSION_PARTNER] = partner.pk
    request.session.set_expiry(SESSION_SECONDS)


def partner_session_required(view: Callable) -> Callable:
    """Pass the session's partner to the view, which runs in that partner's language and zone."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        partner = _session_partner(request)
        if partner is None:
            return _state_page(request, "no_session")
        with translation.override(partner.language), timezone.override(zoneinfo.ZoneInfo(partner.time_zone)):
            return view(request, partner, *args, **kwargs)

    return wrapped


def _link_refusal(request: HttpRequest, resolved, purpose: str) -> HttpResponse | None:
    """The state page for a link that cannot be used here, or None when it can."""
    if resolved.state == LinkState.INVALID or resolved.link.purpose != purpose:
        return _state_page(request, "invalid")
    link = resolved.link
    viewer = _session_partner(request)
    if viewer is not None and viewer.pk != link.partner_id:
        # Someone else is signed in on this browser: their session never opens this link.
        return _state_page(request, "someone_else", language=viewer.language)
    language = link.partner.language
    if resolved.state == LinkState.USED and purpose == PartnerLink.Purpose.CHECK_IN:
        return _state_page(request, "used", language=language, signed_in=viewer is not None)
    if resolved.state != LinkState.VALID:
        return _state_page(request, "expired", language=language)
    return None


# PAGES
# ------------------------------------------------------------------------------
@partner_view("GET", "HEAD", "POST")
def checkin(request: HttpRequest, token: str) -> HttpResponse:
    """The check-in a reminder is for: GET shows it, a successful POST saves it and uses the link."""
    resolved = partner_link_resolve(token=token)
    refusal = _link_refusal(request, resolved, PartnerLink.Purpose.CHECK_IN)
    if refusal is not None:
        return refusal
    link = resolved.link
    partner = link.partner
    instrument = link.occurrence.assignment.instrument
    with translation.override(partner.language):
        if request.method != "POST":
            _begin_partner_session(request, partner)
            # The delivery log shows the link was opened (a mail scanner's GET counts too).
            reminder_link_opened(link=link)
            form = CheckInForm(instrument=instrument, language=partner.language)
            return _checkin_page(request, token, link, form)
        form = CheckInForm(instrument=instrument, language=partner.language, data=request.POST)
        if not form.is_valid():
            return _checkin_page(request, token, link, form, status=400)
        # Where the page offers no sharing, a share sent anyway (a page opened before the
        # separation, a crafted POST) is saved private rather than refused: the partner never
        # saw a share control to correct.
        shared = form.share and sharing_allowed(partner.couple)
        try:
            submitted = checkin_submit_via_link(token=token, answers=form.answers, shared_with_partner=shared)
        except ValidationError as exc:
            errors = exc.error_dict if hasattr(exc, "error_dict") else {"__all__": exc.error_list}
            codes = {error.code for key in ("link", "occurrence") for error in errors.get(key, [])}
            if codes & {LinkState.USED, "already_completed"}:
                signed_in = request.session.get(SESSION_PARTNER) == partner.pk
                return _state_page(request, "used", language=partner.language, signed_in=signed_in)
            if "link" in errors or "occurrence" in errors:
                return _state_page(request, "expired", language=partner.language)
            form.add_service_errors(errors)
            return _checkin_page(request, token, link, form, status=400)
    _begin_partner_session(request, partner)
    request.session[SESSION_LAST_CHECKIN] = submitted.pk
    return redirect(f"{NAMESPACE}:thanks")


def _checkin_page(request, token, link, form, status=200) -> HttpResponse:
    return _page(
        request,
        "partner/checkin.html",
        {
            "form": form,
            "token": token,
            "partner": link.partner,
            "occurrence": link.occurrence,
            "may_share": sharing_allowed(link.partner.couple),
        },
        partner=link.partner,
        status=status,
    )


@partner_view("GET", "HEAD")
def home_link(request: HttpRequest, token: str) -> HttpResponse:
    """A home link: start the partner session, then show home without the token in the URL."""
    resolved = partner_link_resolve(token=token)
    refusal = _link_refusal(request, resolved, PartnerLink.Purpose.HOME)
    if refusal is not None:
        return refusal
    _begin_partner_session(request, resolved.link.partner)
    reminder_link_opened(link=resolved.link)
    welcome_link_opened(link=resolved.link)
    return redirect(f"{NAMESPACE}:home")


@partner_view("GET", "HEAD", "POST")
def records_download(request: HttpRequest, token: str) -> HttpResponse:
    """A partner's prepared records (cyclecare.records): GET shows what the link is for and a
    button (a mail scanner's prefetch uses nothing up); the POST downloads the ZIP, once.
    Unknown or withdrawn: 404; downloaded already or past its time: 410 — nothing shown."""
    resolved = record_export_resolve(token=token)
    if resolved.state == ExportState.INVALID:
        return _state_page(request, "invalid")
    language = resolved.export.partner.language
    if resolved.state == ExportState.USED:
        return _state_page(request, "records_used", language=language)
    if resolved.state == ExportState.EXPIRED:
        return _state_page(request, "expired", language=language)
    if request.method == "POST":
        try:
            _, archive = record_export_download(token=token)
        except ValidationError as error:
            state = "records_used" if error.code == ExportState.USED else "expired"
            return _state_page(request, state, language=language)
        response = HttpResponse(archive, content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="my-records.zip"'
        return response
    export = resolved.export
    return _page(
        request,
        "partner/records.html",
        {"practice_name": export.partner.practice.name, "expires_at": export.expires_at},
        partner=export.partner,
    )


@partner_view("GET", "HEAD")
@partner_session_required
def thanks(request: HttpRequest, partner: Partner) -> HttpResponse:
    last = (
        selectors.checkins_for_partner(partner=partner)
        .filter(pk=request.session.get(SESSION_LAST_CHECKIN))
        .first()
    )
    crisis = last is not None and checkin_calls_for_crisis_resources(last)
    return _page(
        request,
        "partner/thanks.html",
        {
            "partner": partner,
            "last": last,
            "crisis_resources": _crisis_resources(partner) if crisis else [],
            **_history(partner),
        },
        partner=partner,
    )


@partner_view("GET", "HEAD")
@partner_session_required
def home(request: HttpRequest, partner: Partner) -> HttpResponse:
    """The partner's own check-ins and episodes, and what the other partner chose to share."""
    shared_checkins = []
    for shared in (
        selectors.shared_checkins_from_other_partner(partner=partner)
        .select_related("instrument", "partner")
        .order_by("-submitted_at")[:5]
    ):
        rows = _answer_rows(shared, selectors.shareable_answers(shared), partner.language)
        if rows:
            shared_checkins.append({"checkin": shared, "rows": rows})
    episodes = selectors.episodes_for_partner(partner=partner).select_related("reported_by")
    return _page(
        request,
        "partner/home.html",
        {
            "partner": partner,
            "shared_checkins": shared_checkins,
            "may_share": sharing_allowed(partner.couple),
            "own_episodes": [
                _episode_view(e, partner)
                for e in episodes.filter(reported_by=partner).order_by("-occurred_at")[:10]
            ],
            "shared_episodes": [
                _episode_view(e, partner)
                for e in episodes.filter(shared_with_partner=True, reported_by__isnull=False)
                .exclude(reported_by=partner)
                .order_by("-occurred_at")[:10]
            ],
            **_history(partner),
        },
        partner=partner,
    )


@partner_view("GET", "HEAD", "POST")
@partner_session_required
def episode(request: HttpRequest, partner: Partner) -> HttpResponse:
    """Log an episode of the cycle, whenever it happens — not only when reminded."""
    open_forms = list(request.session.get(SESSION_EPISODE_FORMS, []))
    if request.method != "POST":
        nonce = secrets.token_urlsafe(12)
        request.session[SESSION_EPISODE_FORMS] = [*open_forms[-9:], nonce]
        now = timezone.localtime().replace(second=0, microsecond=0)
        form = PartnerEpisodeForm(initial={"occurred_at": now, "intensity": 5, "form_nonce": nonce})
        return _page(
            request,
            "partner/episode.html",
            {"form": form, "partner": partner, "may_share": sharing_allowed(partner.couple)},
            partner=partner,
        )
    form = PartnerEpisodeForm(data=request.POST)
    if request.POST.get("form_nonce") not in open_forms:
        # The same form sent twice (a double tap, a reload): the first one counted.
        messages.info(request, _("That episode was already saved."))
        return redirect(f"{NAMESPACE}:home")
    if form.is_valid():
        other = partner.couple.partners.filter(is_active=True).exclude(pk=partner.pk).first()
        arguments = form.service_arguments(partner=partner, other=other)
        # As on the check-in page: no share control offered, so a share sent anyway is saved private.
        may_share = sharing_allowed(partner.couple)
        arguments["shared_with_partner"] = arguments["shared_with_partner"] and may_share
        try:
            services.episode_record(actor=partner, couple=partner.couple, **arguments)
        except ValidationError as exc:
            for key in getattr(exc, "error_dict", {"__all__": None}):
                field = {"pursuer": "role", "withdrawer": "role"}.get(key, key)
                form.add_error(field if field in form.fields else None, _("Please check this answer."))
        else:
            request.session[SESSION_EPISODE_FORMS] = [
                n for n in open_forms if n != form.cleaned_data["form_nonce"]
            ]
            messages.success(request, _("Your episode is saved."))
            return redirect(f"{NAMESPACE}:home")
    return _page(
        request,
        "partner/episode.html",
        {"form": form, "partner": partner, "may_share": sharing_allowed(partner.couple)},
        partner=partner,
        status=400,
    )


@partner_view("POST")
@partner_session_required
def checkin_share(request: HttpRequest, partner: Partner, checkin_id: int) -> HttpResponse:
    """The author shares or stops sharing their own check-in; anyone else's is not found."""
    own = selectors.checkins_for_partner(partner=partner).filter(pk=checkin_id).first()
    if own is None or not sharing_allowed(partner.couple):
        # Not theirs, not there, or nobody to share with: the same answer, with the partner-page
        # headers.
        return _state_page(request, "not_found", language=partner.language)
    shared = request.POST.get("shared") == "1"
    services.checkin_set_shared(partner=partner, checkin=own, shared=shared)
    messages.success(
        request,
        _("Your partner can now see the shareable answers of this check-in.")
        if shared
        else _("This check-in is private again."),
    )
    return redirect(f"{NAMESPACE}:home")


@partner_view("POST")
def sign_out(request: HttpRequest) -> HttpResponse:
    """End the partner session on this device (a shared phone or tablet)."""
    partner = _session_partner(request)
    language = partner.language if partner else None
    request.session.flush()
    return _state_page(request, "signed_out", language=language)


# WHAT THE PAGES SHOW
# ------------------------------------------------------------------------------
def _crisis_resources(partner: Partner) -> list[dict]:
    with translation.override(partner.language):
        return [
            {
                "name": _(entry["name"]) if entry["name"] else "",
                "contact": _(entry["contact"]) if entry["contact"] else "",
            }
            for entry in crisis_resources_for(partner=partner)
        ]


def _display(item: dict, value: object) -> str:
    kind = item["type"]
    if kind == "yes_no":
        return _("Yes") if value else _("No")
    if kind == "choice":
        for option in item["options"]:
            if isinstance(option, dict) and option.get("value") == value:
                return localized(option.get("label"), translation.get_language()) or str(value)
        return str(value)
    if kind in ("likert", "slider", "vas"):
        return _("%(value)s of %(max)s") % {"value": value, "max": item["max"]}
    return str(value)


def _answer_rows(checkin: CheckIn, answers: dict, language: str) -> list[tuple[str, str]]:
    """(question, answer) pairs in the reader's language, in the instrument's order, of the
    ``answers`` disclosed to the reader (``cyclecare.disclosure``)."""
    rows = []
    with translation.override(language):
        for item in checkin.instrument.definition["items"]:
            if item["code"] not in answers:
                continue
            rows.append(
                (localized(item.get("text"), language) or item["code"], _display(item, answers[item["code"]]))
            )
    return rows


def _history(partner: Partner) -> dict:
    """The partner's own last check-ins (their own answers only) and the chart's points."""
    recent = list(
        selectors.checkins_for_partner(partner=partner)
        .select_related("instrument")
        .order_by("-submitted_at")[:HISTORY_LENGTH]
    )
    may_share = sharing_allowed(partner.couple)
    checkins = []
    for own in recent:
        items = own.instrument.definition["items"]
        checkins.append(
            {
                "checkin": own,
                # Not even its author sees a safety answer here: a page can be seen over a shoulder.
                "rows": _answer_rows(own, checkin_disclosed(own, to=Reader.AUTHOR).answers, partner.language),
                "shareable": may_share
                and any(item_disclosed(item, own.instrument.definition, to=Reader.PARTNER) for item in items),
            }
        )
    points = []
    scale = (0, 10)
    for own in reversed(recent):
        item = next((i for i in own.instrument.definition["items"] if i["code"] == CHART_ITEM), None)
        value = own.answers.get(CHART_ITEM)
        if item is not None and isinstance(value, int | float) and not isinstance(value, bool):
            scale = (item["min"], item["max"])
            points.append((own.submitted_at, value))
    return {"checkins": checkins, "history_chart": charts.history_chart(points, scale)}


def _episode_view(episode: CycleEpisode, viewer: Partner) -> dict:
    if episode.pursuer_id == viewer.pk:
        moves = _("You moved toward; your partner moved away.")
    elif episode.withdrawer_id == viewer.pk:
        moves = _("Your partner moved toward; you moved away.")
    else:
        moves = ""
    return {
        "episode": episode,
        "moves": moves,
        "duration": episode.duration_minutes,
        "by_viewer": episode.reported_by_id == viewer.pk,
    }


# REMINDERS: STOP / PAUSE (no login: a signed token in every reminder)
# ------------------------------------------------------------------------------
@never_cache
@csrf_exempt  # the signed token is the credential; mail clients' one-click POST has no CSRF token
@require_http_methods(["GET", "POST"])
def reminders_stop(request: HttpRequest, token: str) -> HttpResponse:
    """Stop (or start again) one channel's reminders for the partner the token names. GET only
    shows the choice — mail scanners open links; a POST records the partner's own decision as an
    electronic consent (RFC 8058 one-click POSTs ``List-Unsubscribe=One-Click``)."""
    found = stop_token_read(token)
    partner = (
        Partner.objects.select_related("practice").filter(pk=found[0], is_active=True).first()
        if found
        else None
    )
    if partner is None:
        response = render(request, "cyclecare/reminders/stop.html", {"invalid": True}, status=404)
        return _private_page(response)
    channel = found[1]
    kind = Consent.Kind.EMAIL if channel == "email" else Consent.Kind.SMS
    with translation.override(partner.language):
        if request.method == "POST":
            one_click = request.POST.get("List-Unsubscribe") == "One-Click"
            action = "stop" if one_click else request.POST.get("action", "")
            if action in ("stop", "resume"):
                consent_record(
                    actor=partner,
                    partner=partner,
                    kind=kind,
                    granted=action == "resume",
                    method=Consent.Method.ELECTRONIC,
                )
            if not one_click:
                return _private_page(HttpResponseRedirect(f"{request.path}?done={action}"))
        context = {
            "invalid": False,
            "first_name": first_name(partner.display_name),
            "practice_name": partner.practice.name,
            "channel": channel,
            "receiving": consent_in_force(partner=partner, kind=kind),
            "done": request.GET.get("done", "") if request.method == "GET" else "stop",
        }
        response = render(request, "cyclecare/reminders/stop.html", context)
    return _private_page(response)


reminders_stop.audit_surface = AuditEvent.Surface.PARTNER_PAGE


def _private_page(response: HttpResponse) -> HttpResponse:
    # The URL holds a token: never send it onwards, never index the page.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
