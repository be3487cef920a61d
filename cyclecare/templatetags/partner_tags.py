"""Template helpers of the partner pages: the history chart, drawn on the server as SVG."""

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

register = template.Library()

# The chart's drawing box (SVG user units); the stylesheet scales it to the page width.
WIDTH, HEIGHT = 320, 170
LEFT, RIGHT, TOP, BOTTOM = 30, 14, 12, 30


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _coordinate(value: float) -> str:
    # Formatted here, not in the template: a Spanish locale would write 12,5 and break the SVG.
    return f"{value:.1f}"


@register.inclusion_tag("partner/_chart.html")
def history_chart(points: list, scale: tuple = (0, 10)) -> dict:
    """A line of the partner's own answers over their last check-ins (oldest first), with a
    title and description for screen readers and the same numbers as a table."""
    low, high = scale
    span = (high - low) or 1
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = len(points)
    dots = []
    for index, (when, value) in enumerate(points):
        x = LEFT + (inner_w * index / (count - 1) if count > 1 else inner_w / 2)
        y = TOP + inner_h * (1 - (value - low) / span)
        local = timezone.localtime(when)
        dots.append(
            {
                "x": _coordinate(x),
                "y": _coordinate(y),
                "value": _number(value),
                # Translators: a day and month under the chart (Django date format), e.g. 3/14.
                "axis_label": date_format(local, _("n/j")),
                "label": date_format(local, "MONTH_DAY_FORMAT"),
                # Translators: a date and time in a short table cell (Django date format).
                "when": date_format(local, _("M j, P")),
            }
        )
    grid = [
        {"y": _coordinate(TOP + inner_h * (1 - (tick - low) / span)), "label": _number(tick)}
        for tick in (low, low + span / 2, high)
    ]
    values = [value for _when, value in points]
    description = ""
    if dots:
        description = _(
            "From %(first)s to %(last)s. Lowest %(low)s, highest %(high)s, most recent %(latest)s, "
            "on a scale from %(min)s to %(max)s."
        ) % {
            "first": dots[0]["label"],
            "last": dots[-1]["label"],
            "low": _number(min(values)),
            "high": _number(max(values)),
            "latest": dots[-1]["value"],
            "min": _number(low),
            "max": _number(high),
        }
    return {
        "dots": dots,
        "polyline": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "grid": grid,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "tick_x": LEFT - 6,
        "right_edge": WIDTH - RIGHT,
        "label_y": HEIGHT - 8,
        "description": description,
        "first": dots[0] if dots else None,
        "last": dots[-1] if len(dots) > 1 else None,
    }
