"""The printable PDF of a partner's own records (``cyclecare.records``), drawn with ReportLab
from the same JSON document the partner downloads, so the two never say different things."""

import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

SESSION_KIND = {"joint": "Joint", "individual": "Individual"}


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    return escape(str(value))


def _when(value: str | None) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM`` (UTC, as stored)."""
    if not value:
        return "—"
    return escape(value[:16].replace("T", " ")) + (" UTC" if len(value) > 10 else "")


def records_pdf(records: dict[str, Any]) -> bytes:
    """A Letter-size PDF of ``records`` (the JSON document of ``partner_records_gather``)."""
    styles = getSampleStyleSheet()
    body, h1, h2, small = styles["BodyText"], styles["Title"], styles["Heading2"], styles["Italic"]
    flow: list = []

    def heading(text: str) -> None:
        flow.append(Spacer(1, 0.15 * inch))
        flow.append(Paragraph(escape(text), h2))

    def para(text: str, style=body) -> None:
        flow.append(Paragraph(text, style))

    def table(rows: list[list[str]], widths: list[float] | None = None) -> None:
        cells = [[Paragraph(cell, body) for cell in row] for row in rows]
        grid = Table(cells, colWidths=widths, repeatRows=1)
        grid.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef2")),
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5ad")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        flow.append(grid)

    partner = records["partner"]
    para(f"Your records from {escape(records['practice'])}", h1)
    para(f"Prepared {_when(records['prepared_at'])} for {escape(partner['display_name'])}.")

    heading("Your details")
    table(
        [
            ["Name", "Pronouns", "Email", "Phone", "Language", "Time zone"],
            [
                _text(partner[k])
                for k in ("display_name", "pronouns", "email", "phone", "language", "time_zone")
            ],
        ]
    )

    heading("Sessions")
    if records["sessions"]:
        table(
            [["Date", "Kind", "Modality", "Status", "Minutes"]]
            + [
                [
                    _when(s["starts_at"]),
                    _text(SESSION_KIND.get(s["kind"], s["kind"])),
                    _text(s["modality"].replace("_", " ")),
                    _text(s["status"].replace("_", " ")),
                    _text(s["duration_minutes"]),
                ]
                for s in records["sessions"]
            ]
        )
    else:
        para("None recorded.")

    heading("Your check-ins")
    if not records["checkins"]:
        para("None recorded.")
    for checkin in records["checkins"]:
        score = "" if checkin["total_score"] is None else f" — total {_text(checkin['total_score'])}"
        para(f"<b>{_text(checkin['instrument']['name'])}</b>, {_when(checkin['submitted_at'])}{score}")
        if checkin["answers"]:
            table(
                [["Question", "Your answer"]]
                + [[_text(a["question"] or a["item"]), _text(a["answer"])] for a in checkin["answers"]],
                widths=[4.5 * inch, 2 * inch],
            )

    heading("Episodes of the cycle")
    if not records["episodes"]:
        para("None recorded.")
    for episode in records["episodes"]:
        who = "You reported" if episode["reported_by_you"] else "Seen in session"
        para(
            f"<b>{_when(episode['occurred_at'])}</b> — {who}; intensity {_text(episode['intensity'])}/10; "
            f"your move: {_text(episode['your_move'])}; repair tried: {_text(episode['repair_attempted'])}"
        )
        for field in ("trigger", "notes"):
            if episode.get(field):
                para(f"{field.capitalize()}: {_text(episode[field])}")

    shared = records["shared_with_you"]
    heading("Shared with you by your partner")
    if not shared["checkins"] and not shared["episodes"]:
        para("Nothing shared.")
    for checkin in shared["checkins"]:
        para(f"<b>{_text(checkin['instrument']['name'])}</b>, {_when(checkin['submitted_at'])}")
        if checkin["answers"]:
            table(
                [["Question", "Their answer"]]
                + [[_text(a["question"] or a["item"]), _text(a["answer"])] for a in checkin["answers"]],
                widths=[4.5 * inch, 2 * inch],
            )
    for episode in shared["episodes"]:
        para(f"Episode {_when(episode['occurred_at'])}, intensity {_text(episode['intensity'])}/10")

    heading("Your consents")
    if records["consents"]:
        table(
            [["Recorded", "Consent", "Decision", "How"]]
            + [
                [
                    _when(c["recorded_at"]),
                    _text(c["kind"]),
                    "Granted" if c["granted"] else "Withdrawn",
                    _text(c["method"].replace("_", " ")),
                ]
                for c in records["consents"]
            ]
        )
    else:
        para("None recorded.")

    heading("Session notes")
    if not records["notes"]:
        para("No notes are part of your records.")
    for note in records["notes"]:
        kind = "Joint session (released to you)" if note["released_to_you"] else "Individual session"
        para(
            f"<b>{kind}, {_when(note['session_date'])}</b> — {note['format'].upper()} note signed "
            f"{_when(note['signed_at'])} by {_text(note['signed_by'])}"
        )
        for section, text in note["sections"].items():
            para(f"<i>{escape(section.capitalize())}</i>: {_text(text)}")
        for addendum in note["addenda"]:
            para(f"<i>Addendum {_when(addendum['created_at'])}</i>: {_text(addendum['body'])}")

    heading("Who accessed your record")
    if records["access_report"]:
        table(
            [["When", "Who", "What", "Record"]]
            + [
                [
                    _when(e["at"]),
                    _text(e["who"]),
                    _text(e["action"]),
                    _text(f"{e['record']} #{e['record_id']}"),
                ]
                for e in records["access_report"]
            ],
            widths=[1.4 * inch, 1.8 * inch, 1.6 * inch, 2.2 * inch],
        )
    else:
        para("No access recorded.")

    heading("Not included")
    for line in records["not_included"]:
        para(f"• {escape(line)}", small)

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        title="Your records",
        author=records["practice"],
        leftMargin=0.75 * inch,
        rightMargin=0.75 * inch,
        topMargin=0.75 * inch,
        bottomMargin=0.75 * inch,
    )
    document.build(flow)
    return buffer.getvalue()
