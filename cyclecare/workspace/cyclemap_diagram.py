"""The cycle map drawn as its loop: server-rendered SVG geometry, no script, no library.

Each partner is a box: the surface emotion and the move on the outside, the underlying
emotion and the longing in an inner box (what the other partner does not see); one arrow
runs from each partner's box to the other's, so the two arrows close the loop. This module
only lays the drawing out; ``workspace/cyclemap_diagram.html`` renders it (Django escapes
every text), and CSS classes style it (no style attributes: CSP ``style-src 'self'``).
"""

import textwrap
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

WIDTH, HEIGHT = 960, 580
BOX_WIDTH, BOX_HEIGHT, BOX_TOP = 360, 440, 70
LEFT_X, RIGHT_X = 20, WIDTH - 20 - BOX_WIDTH
INNER_TOP = 232  # the inner box's offset from the top of the partner's box
WRAP_CHARS = 40  # fits BOX_WIDTH at the CSS font size
WRAP_LINES = 3
LINE_HEIGHT = 19


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int
    css: str


@dataclass(frozen=True)
class Text:
    x: int
    y: int
    css: str
    lines: tuple[str, ...]
    anchor: str = "start"
    line_height: int = LINE_HEIGHT


@dataclass(frozen=True)
class Arrow:
    path: str
    css: str = "cm-arrow"


@dataclass
class Diagram:
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)


def wrap(value: str, *, width: int = WRAP_CHARS, lines: int = WRAP_LINES) -> tuple[str, ...]:
    """At most ``lines`` lines of ``width`` characters; a cut is marked with an ellipsis (the
    full text is in the map's text version beside the drawing)."""
    wrapped = textwrap.wrap(" ".join(value.split()), width=width) or ["—"]
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][: width - 1].rstrip() + "…"
    return tuple(wrapped)


def move_phrase(position) -> str:
    return _("pursues") if position.move == "pursue" else _("withdraws")


def _partner_box(diagram: Diagram, position, x: int) -> None:
    name = position.partner.display_name
    top = BOX_TOP
    diagram.rects.append(Rect(x, top, BOX_WIDTH, BOX_HEIGHT, f"cm-box cm-box--{position.move}"))
    diagram.texts.append(Text(x + 20, top + 34, "cm-name", (f"{name} · {move_phrase(position)}",)))
    y = top + 70
    diagram.texts.append(Text(x + 20, y, "cm-label", (_("On the surface"),)))
    diagram.texts.append(Text(x + 20, y + 22, "cm-value", wrap(position.surface_emotion)))
    y += 22 + LINE_HEIGHT * WRAP_LINES + 8
    diagram.texts.append(Text(x + 20, y, "cm-label", (_("The move"),)))
    diagram.texts.append(
        Text(x + 20, y + 22, "cm-value", wrap(position.move_detail or move_phrase(position)))
    )
    inner_x, inner_y = x + 16, top + INNER_TOP
    diagram.rects.append(Rect(inner_x, inner_y, BOX_WIDTH - 32, BOX_HEIGHT - INNER_TOP - 16, "cm-inner"))
    y = inner_y + 30
    diagram.texts.append(Text(inner_x + 16, y, "cm-label", (_("Underneath"),)))
    diagram.texts.append(Text(inner_x + 16, y + 22, "cm-value", wrap(position.underlying_emotion, width=36)))
    y += 22 + LINE_HEIGHT * WRAP_LINES + 8
    diagram.texts.append(Text(inner_x + 16, y, "cm-label", (_("Longing for"),)))
    diagram.texts.append(Text(inner_x + 16, y + 22, "cm-value", wrap(position.longing, width=36)))


def _curve(*points: tuple[int, int]) -> str:
    """An SVG cubic Bézier path through a start, two control points and an end."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    return f"M {x0} {y0} C {x1} {y1}, {x2} {y2}, {x3} {y3}"


def _describe(position) -> str:
    def said(value: str) -> str:
        return " ".join(value.split()) or _("not recorded")

    return _(
        "%(name)s %(move)s: on the surface %(surface)s; underneath %(underlying)s; longing for %(longing)s."
    ) % {
        "name": position.partner.display_name,
        "move": move_phrase(position),
        "surface": said(position.surface_emotion),
        "underlying": said(position.underlying_emotion),
        "longing": said(position.longing),
    }


def diagram_for(cycle_map) -> Diagram:
    """Lay out one version of a map. Two partners make a loop; one partner (the other has left
    the couple) is drawn alone, without arrows."""
    positions = sorted(cycle_map.positions.all(), key=lambda p: p.partner.seat)
    description = " ".join(_describe(p) for p in positions)
    diagram = Diagram(
        title=_("The couple's cycle, version %(version)s") % {"version": cycle_map.version},
        description=description,
    )
    if len(positions) != 2:
        for position in positions:
            _partner_box(diagram, position, (WIDTH - BOX_WIDTH) // 2)
        return diagram
    left, right = positions
    _partner_box(diagram, left, LEFT_X)
    _partner_box(diagram, right, RIGHT_X)
    # Each partner's move lands on the other: over the top left → right, under the bottom back.
    start, end = LEFT_X + BOX_WIDTH, RIGHT_X
    upper, lower = BOX_TOP + 110, BOX_TOP + BOX_HEIGHT - 110
    over, under = BOX_TOP - 30, BOX_TOP + BOX_HEIGHT + 30
    diagram.arrows.append(
        Arrow(_curve((start + 4, upper), (start + 80, over), (end - 80, over), (end - 8, upper)))
    )
    diagram.arrows.append(
        Arrow(_curve((end - 4, lower), (end - 80, under), (start + 80, under), (start + 8, lower)))
    )
    middle = WIDTH // 2
    for mover, moved, y in ((left, right, BOX_TOP - 28), (right, left, BOX_TOP + BOX_HEIGHT + 40)):
        said = {"name": mover.partner.display_name, "move": move_phrase(mover)}
        diagram.texts.append(Text(middle, y, "cm-arrow-label", (_("%(name)s %(move)s…") % said,), "middle"))
        sets_off = _("…which sets off %(name)s") % {"name": moved.partner.display_name}
        diagram.texts.append(Text(middle, y + 20, "cm-arrow-note", (sets_off,), "middle"))
    centre = (_("The cycle"), _("is the problem,"), _("not a partner"))
    diagram.texts.append(Text(middle, BOX_TOP + BOX_HEIGHT // 2, "cm-centre", centre, "middle", 22))
    return diagram
