"""The demo that ``manage.py seed_demo`` builds: two practices, invented couples, eight weeks of history.

Every write goes through the services (validated, audited), with one deliberate exception: a
session in the past. ``session_schedule`` refuses past start times on purpose, so a historical
session row is created here directly (``full_clean()`` plus a ``seed.session`` audit event) and
then goes through ``session_record_outcome`` and the note services like any other session.

The content is deterministic (one seeded ``random.Random`` per couple, drawn in a fixed order)
and relative to today in the practice's time zone: the history covers the 56 days before today.
Services stamp some times with "now" (signing, co-signing, consents, completed occurrences);
the clinical times (sessions, episodes, check-in submissions) are historical.

Last, the beat's own services run once over that history, leaving what a running clinic's beat
would have left (``catch_up_with_the_beat``): past-due check-ins nobody answered become missed,
the next hours' occurrences and reminders are planned, and the open safety flag's clinician
email goes out. The reminders of past weeks are not made up: only the dispatcher writes a sent
reminder, and it sends for real, now.
"""

import datetime
import random
import time
import zoneinfo
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from clinician import services as clinician_services
from clinician.audit import audit_record
from clinician.conf import cyclecare_settings
from clinician.models import AuditEvent, Clinician, Practice
from couples import services as couple_services
from couples.models import Addendum, Consent, Couple, NoteCoSignature, Partner, SessionNote, TherapySession

from . import services
from .models import (
    Assignment,
    CheckIn,
    CycleEpisode,
    CycleMap,
    Instrument,
    Occurrence,
    ReminderDelivery,
    SafetyFlag,
)
from .reminders import planner
from .reports import rollups

# Published in the README; the demo is for a developer's machine, never for real data.
DEMO_PASSWORD = "demo-cyclecare-2026"  # noqa: S105
DEMO_SLUG = "northstar"
HISTORY_DAYS = 56
CHECKIN_DAYS = 28
SEED = 2026

CHECKIN_TIME = datetime.time(20, 0)
CSI_TIME = datetime.time(19, 0)
SUNDAY = 64  # Assignment.weekdays: Monday = bit 0 … Sunday = bit 6.


# WHO IS WHO
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Login:
    email: str
    role: str
    practice: str


@dataclass(frozen=True)
class StaffSpec:
    email: str
    first_name: str
    last_name: str
    role: str
    credentials: str = ""
    licence_number: str = ""
    licence_jurisdiction: str = ""
    is_prelicensed: bool = False
    supervised: bool = False
    label: str = ""

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class PracticeSpec:
    name: str
    slug: str
    time_zone: str
    staff: tuple[StaffSpec, ...]


OPERATOR = Login("operator@cyclecare.example", "operator (superuser, Django admin)", "all")

PRACTICES = (
    PracticeSpec(
        name="Northstar Couples Therapy",
        slug=DEMO_SLUG,
        time_zone="America/Chicago",
        staff=(
            StaffSpec(
                "admin@northstar.example",
                "Robin",
                "Alvarez",
                Clinician.Role.PRACTICE_ADMIN,
                label="practice admin (staff)",
            ),
            StaffSpec(
                "supervisor@northstar.example",
                "Leslie",
                "Okonkwo",
                Clinician.Role.SUPERVISOR,
                credentials="LMFT",
                licence_number="LMFT-IL-0417729",
                licence_jurisdiction="Illinois",
                label="supervisor, LMFT",
            ),
            StaffSpec(
                "clinician@northstar.example",
                "Sasha",
                "Greene",
                Clinician.Role.CLINICIAN,
                credentials="LMFT",
                licence_number="LMFT-IL-0521184",
                licence_jurisdiction="Illinois",
                supervised=True,
                label="licensed clinician",
            ),
            StaffSpec(
                "prelicensed@northstar.example",
                "Kai",
                "Morrison",
                Clinician.Role.CLINICIAN,
                credentials="AMFT",
                is_prelicensed=True,
                supervised=True,
                label="pre-licensed clinician (notes co-signed)",
            ),
        ),
    ),
    PracticeSpec(
        name="Harbor Relationship Center",
        slug="harbor",
        time_zone="America/Los_Angeles",
        staff=(
            StaffSpec(
                "clinician@harbor.example",
                "Drew",
                "Castellanos",
                Clinician.Role.CLINICIAN,
                credentials="LCSW",
                licence_number="LCSW-CA-88213",
                licence_jurisdiction="California",
                label="licensed clinician",
            ),
        ),
    ),
)


def demo_logins() -> list[Login]:
    """Every account the demo creates, operator first."""
    logins = [OPERATOR]
    for practice in PRACTICES:
        logins += [Login(staff.email, staff.label, practice.name) for staff in practice.staff]
    return logins


def demo_present() -> bool:
    return Practice.objects.filter(slug=DEMO_SLUG).exists()


# COUPLES
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PartnerSpec:
    display_name: str
    pronouns: str
    time_zone: str
    channel: str
    email: str = ""
    phone: str = ""
    quiet_hours: tuple[datetime.time, datetime.time] | None = None
    shares: bool = False
    adherence: float = 0.75


@dataclass(frozen=True)
class Trend:
    """Start → end of eight weeks: episodes a week, intensity range, repair odds, check-in levels."""

    rate: tuple[float, float]
    intensity_start: tuple[int, int]
    intensity_end: tuple[int, int]
    repair_tried: tuple[float, float]
    repair_worked: tuple[float, float]
    connection: tuple[float, float]
    satisfaction: tuple[float, float]  # CSI-4 level as a fraction of the maximum


@dataclass(frozen=True)
class CoupleSpec:
    key: str
    practice: str
    clinician: str  # staff email
    label: str
    partners: tuple[PartnerSpec, PartnerSpec]
    pursuer_seat: int
    steps_by_week: tuple[int, ...]
    note_format: str
    triggers: tuple[str, ...]
    trend: Trend
    weeks_before_history: int
    session_day: int  # day of each week (0–4) the joint session falls on
    session_hour: int
    modality: str = TherapySession.Modality.IN_PERSON
    individual_weeks: dict[int, int] = field(default_factory=dict)  # week → seat seen alone
    cancelled_week: int | None = None
    no_show_week: int | None = None
    map_versions: int = 1
    leave_latest_note_draft: bool = False
    addendum_week: int | None = None
    safety_flag_seat: int | None = None


def _hm(hour: int, minute: int = 0) -> datetime.time:
    return datetime.time(hour, minute)


COUPLES = (
    CoupleSpec(
        key="rivera-chen",
        practice=DEMO_SLUG,
        clinician="clinician@northstar.example",
        label="Rivera & Chen",
        partners=(
            PartnerSpec(
                "Alex Rivera",
                "they/them",
                "America/Chicago",
                Partner.Channel.EMAIL,
                email="alex.rivera@example.com",
                phone="+15555550101",
                quiet_hours=(_hm(22), _hm(7)),
                shares=True,
                adherence=0.88,
            ),
            PartnerSpec(
                "Sam Chen",
                "he/him",
                "America/Chicago",
                Partner.Channel.SMS,
                email="sam.chen@example.com",
                phone="+15555550102",
                shares=True,
                adherence=0.68,
            ),
        ),
        pursuer_seat=1,
        steps_by_week=(3, 3, 4, 4, 4, 4, 5, 5),
        note_format=SessionNote.Format.DAP,
        triggers=(
            "late replies to texts during Sam's work trips",
            "planning weekends",
            "Sam's phone at dinner",
        ),
        trend=Trend(
            rate=(4, 1),
            intensity_start=(7, 9),
            intensity_end=(2, 4),
            repair_tried=(0.2, 0.85),
            repair_worked=(0.25, 0.8),
            connection=(3.0, 7.5),
            satisfaction=(0.42, 0.78),
        ),
        weeks_before_history=6,
        session_day=1,
        session_hour=17,
        cancelled_week=4,
        map_versions=2,
        addendum_week=2,
    ),
    CoupleSpec(
        key="okafor-lindqvist",
        practice=DEMO_SLUG,
        clinician="prelicensed@northstar.example",
        label="Okafor & Lindqvist",
        partners=(
            PartnerSpec(
                "Jordan Okafor",
                "she/her",
                "America/New_York",
                Partner.Channel.EMAIL,
                email="jordan.okafor@example.com",
                adherence=0.72,
            ),
            PartnerSpec(
                "Riley Lindqvist",
                "they/them",
                "America/New_York",
                Partner.Channel.EMAIL,
                email="riley.lindqvist@example.com",
                phone="+15555550104",
                quiet_hours=(_hm(21, 30), _hm(6, 30)),
                adherence=0.62,
            ),
        ),
        pursuer_seat=2,
        steps_by_week=(1, 1, 1, 1, 2, 2, 2, 2),
        note_format=SessionNote.Format.BIRP,
        triggers=(
            "household chores at the end of the workday",
            "money and the shared account",
            "visits with Jordan's family",
        ),
        trend=Trend(
            rate=(5, 4),
            intensity_start=(7, 9),
            intensity_end=(6, 8),
            repair_tried=(0.1, 0.25),
            repair_worked=(0.2, 0.3),
            connection=(3.0, 3.5),
            satisfaction=(0.36, 0.38),
        ),
        weeks_before_history=0,
        session_day=2,
        session_hour=10,
        modality=TherapySession.Modality.VIDEO,
        individual_weeks={1: 1, 2: 2},
        no_show_week=5,
        map_versions=1,
        safety_flag_seat=1,
    ),
    CoupleSpec(
        key="nakamura-brooks",
        practice=DEMO_SLUG,
        clinician="clinician@northstar.example",
        label="Nakamura & Brooks",
        partners=(
            PartnerSpec(
                "Devon Nakamura",
                "he/him",
                "America/Denver",
                Partner.Channel.SMS,
                phone="+15555550105",
                quiet_hours=(_hm(22), _hm(7)),
                adherence=0.80,
            ),
            PartnerSpec(
                "Taylor Brooks",
                "she/her",
                "America/Denver",
                Partner.Channel.EMAIL,
                email="taylor.brooks@example.com",
                shares=True,
                adherence=0.66,
            ),
        ),
        pursuer_seat=1,
        steps_by_week=(2, 2, 2, 2, 3, 3, 3, 3),
        note_format=SessionNote.Format.SOAP,
        triggers=(
            "bedtime routines with the kids",
            "Taylor working late",
            "decisions about Devon's parents moving closer",
        ),
        trend=Trend(
            rate=(4, 3),
            intensity_start=(7, 9),
            intensity_end=(5, 7),
            repair_tried=(0.15, 0.4),
            repair_worked=(0.3, 0.5),
            connection=(3.0, 4.5),
            satisfaction=(0.40, 0.48),
        ),
        weeks_before_history=2,
        session_day=0,
        session_hour=18,
        modality=TherapySession.Modality.VIDEO,
        individual_weeks={0: 2, 1: 1},
        map_versions=2,
    ),
    CoupleSpec(
        key="patel-moreno",
        practice=DEMO_SLUG,
        clinician="prelicensed@northstar.example",
        label="Patel & Moreno",
        partners=(
            PartnerSpec(
                "Avery Patel",
                "they/them",
                "America/Chicago",
                Partner.Channel.EMAIL,
                email="avery.patel@example.com",
                shares=True,
                adherence=0.85,
            ),
            PartnerSpec(
                "Cameron Moreno",
                "he/him",
                "America/Los_Angeles",
                Partner.Channel.SMS,
                phone="+15555550108",
                quiet_hours=(_hm(23), _hm(7)),
                adherence=0.60,
            ),
        ),
        pursuer_seat=1,
        steps_by_week=(3, 3, 3, 3, 3, 4, 4, 4),
        note_format=SessionNote.Format.BIRP,
        triggers=(
            "goodnight calls across time zones",
            "who flies to see whom",
            "Cameron going quiet after long shifts",
        ),
        trend=Trend(
            rate=(4, 2),
            intensity_start=(7, 9),
            intensity_end=(4, 6),
            repair_tried=(0.2, 0.6),
            repair_worked=(0.3, 0.6),
            connection=(3.5, 5.5),
            satisfaction=(0.40, 0.60),
        ),
        weeks_before_history=4,
        session_day=3,
        session_hour=12,
        modality=TherapySession.Modality.VIDEO,
        map_versions=2,
    ),
    CoupleSpec(
        key="delgado-ellis",
        practice=DEMO_SLUG,
        clinician="clinician@northstar.example",
        label="Delgado & Ellis",
        partners=(
            PartnerSpec(
                "Quinn Delgado",
                "she/her",
                "America/New_York",
                Partner.Channel.EMAIL,
                email="quinn.delgado@example.com",
                quiet_hours=(_hm(22, 30), _hm(7)),
                shares=True,
                adherence=0.90,
            ),
            PartnerSpec(
                "Morgan Ellis",
                "they/them",
                "America/New_York",
                Partner.Channel.EMAIL,
                email="morgan.ellis@example.com",
                shares=True,
                adherence=0.78,
            ),
        ),
        pursuer_seat=2,
        steps_by_week=(6, 6, 6, 6, 7, 7, 7, 7),
        note_format=SessionNote.Format.SOAP,
        triggers=("Quinn's long hours before a deadline", "intimacy and who initiates", "plans with friends"),
        trend=Trend(
            rate=(3, 1),
            intensity_start=(5, 7),
            intensity_end=(2, 4),
            repair_tried=(0.5, 0.9),
            repair_worked=(0.5, 0.85),
            connection=(5.0, 8.0),
            satisfaction=(0.55, 0.80),
        ),
        weeks_before_history=14,
        session_day=4,
        session_hour=9,
        map_versions=3,
        leave_latest_note_draft=True,
    ),
    CoupleSpec(
        key="achebe-sorensen",
        practice=DEMO_SLUG,
        clinician="prelicensed@northstar.example",
        label="Achebe & Sørensen",
        partners=(
            PartnerSpec(
                "Rowan Achebe",
                "he/him",
                "America/Denver",
                Partner.Channel.SMS,
                phone="+15555550111",
                quiet_hours=(_hm(23), _hm(6)),
                shares=True,
                adherence=0.82,
            ),
            PartnerSpec(
                "Jamie Sørensen",
                "she/her",
                "America/Denver",
                Partner.Channel.EMAIL,
                email="jamie.sorensen@example.com",
                shares=True,
                adherence=0.74,
            ),
        ),
        pursuer_seat=2,
        steps_by_week=(8, 8, 8, 9, 9, 9, 9, 9),
        note_format=SessionNote.Format.DAP,
        triggers=(
            "Rowan's new job and its travel",
            "holiday plans with both families",
            "the budget for the kitchen",
        ),
        trend=Trend(
            rate=(2, 1),
            intensity_start=(4, 6),
            intensity_end=(1, 3),
            repair_tried=(0.7, 0.95),
            repair_worked=(0.7, 0.9),
            connection=(6.5, 8.5),
            satisfaction=(0.65, 0.86),
        ),
        weeks_before_history=20,
        session_day=1,
        session_hour=15,
        modality=TherapySession.Modality.VIDEO,
        map_versions=3,
    ),
    CoupleSpec(
        key="mendes-whitaker",
        practice="harbor",
        clinician="clinician@harbor.example",
        label="Mendes & Whitaker",
        partners=(
            PartnerSpec(
                "Ellis Mendes",
                "they/them",
                "America/Los_Angeles",
                Partner.Channel.EMAIL,
                email="ellis.mendes@example.com",
                adherence=0.80,
            ),
            PartnerSpec(
                "Harper Whitaker",
                "she/her",
                "America/Los_Angeles",
                Partner.Channel.SMS,
                phone="+15555550114",
                quiet_hours=(_hm(22), _hm(7)),
                adherence=0.70,
            ),
        ),
        pursuer_seat=1,
        steps_by_week=(2, 2, 2, 3, 3, 3, 3, 3),
        note_format=SessionNote.Format.SOAP,
        triggers=("Harper's weekend shifts", "the move to a smaller apartment", "texts that go unanswered"),
        trend=Trend(
            rate=(4, 3),
            intensity_start=(6, 8),
            intensity_end=(5, 7),
            repair_tried=(0.2, 0.4),
            repair_worked=(0.3, 0.45),
            connection=(3.5, 4.5),
            satisfaction=(0.42, 0.48),
        ),
        weeks_before_history=1,
        session_day=2,
        session_hour=16,
        map_versions=1,
    ),
    CoupleSpec(
        key="ito-farrow",
        practice="harbor",
        clinician="clinician@harbor.example",
        label="Ito & Farrow",
        partners=(
            PartnerSpec(
                "Kendall Ito",
                "he/him",
                "America/Los_Angeles",
                Partner.Channel.EMAIL,
                email="kendall.ito@example.com",
                shares=True,
                adherence=0.76,
            ),
            PartnerSpec(
                "Sage Farrow",
                "they/them",
                "America/Phoenix",
                Partner.Channel.EMAIL,
                email="sage.farrow@example.com",
                shares=True,
                adherence=0.84,
            ),
        ),
        pursuer_seat=2,
        steps_by_week=(5, 5, 5, 5, 6, 6, 6, 6),
        note_format=SessionNote.Format.DAP,
        triggers=("Kendall's fertility appointments", "time with Sage's friends", "whose turn it is to call"),
        trend=Trend(
            rate=(3, 1),
            intensity_start=(6, 8),
            intensity_end=(3, 5),
            repair_tried=(0.4, 0.8),
            repair_worked=(0.4, 0.75),
            connection=(4.5, 7.0),
            satisfaction=(0.50, 0.70),
        ),
        weeks_before_history=10,
        session_day=3,
        session_hour=11,
        modality=TherapySession.Modality.VIDEO,
        map_versions=2,
    ),
)


# CLINICAL TEXT
# ------------------------------------------------------------------------------
# Per EFT step: the work of the session, the interventions used, the homework, and the plan.
STEP_FOCUS = {
    1: "Assessment continues: relationship history, each partner's goals and the presenting concern. "
    "Screened for contraindications to conjoint work (intimate partner violence, an active affair, "
    "untreated substance use); none identified.",
    2: "Tracked a recent episode move by move and named the negative cycle: {p} pursues, {w} withdraws, "
    "and each move sets off the other.",
    3: "Slowed the cycle down to reach the emotion under each position: {p}'s fear of not mattering under "
    "the criticism, {w}'s fear of failing under the shutdown.",
    4: "Reframed the problem as the cycle rather than either partner; both can now describe their own "
    "part and catch it earlier.",
    5: "Deepened {w}'s engagement with disowned fear and shame and supported {w} in putting it into "
    "words to {p}.",
    6: "Helped {p} take in {w}'s new disclosures and respond with acceptance rather than doubt.",
    7: "Enactments of direct requests: {w} re-engaging and naming a need, {p} softening and asking "
    "from the fear rather than the protest.",
    8: "Used the new positions to approach old practical problems ({trigger}) from a secure base.",
    9: "Consolidated the new positions; the couple told the story of the cycle and of how they now "
    "step out of it. Discussed tapering to every other week.",
}
STEP_INTERVENTIONS = {
    1: [
        "joining and alliance building with each partner",
        "reflection and validation of each position",
        "history-taking of attachment experiences",
    ],
    2: [
        "tracking and reflecting the cycle",
        "validation of both positions",
        "externalising the cycle as the shared problem",
    ],
    3: [
        "evocative responding",
        "empathic conjecture about primary emotion",
        "heightening",
        "slowing the sequence down",
    ],
    4: ["reframing in terms of the cycle and attachment needs", "validation", "tracking the cycle"],
    5: ["heightening", "empathic conjecture", "turning the withdrawer toward the partner (enactment)"],
    6: [
        "processing the partner's response to new disclosures",
        "validation",
        "reflection of primary emotion",
    ],
    7: ["restructuring enactments", "heightening of attachment needs", "reflecting the new bond"],
    8: ["supporting collaborative problem solving", "reflecting the new cycle of reaching and responding"],
    9: [
        "creating the couple's narrative of change",
        "consolidating new positions",
        "planning for future triggers and tapering",
    ],
}
STEP_HOMEWORK = {
    1: "Daily cycle check-in each evening; notice the first move of the cycle and note it in one line.",
    2: "Daily cycle check-in; each partner writes down their own first move when the cycle starts.",
    3: "When the cycle shows up, name the feeling underneath in one word in the check-in. "
    "Read Hold Me Tight, conversation 1 (Recognizing the Demon Dialogues).",
    4: 'Use the agreed pause phrase ("this is our cycle") and come back within 30 minutes; log each '
    "episode and any repair attempt.",
    5: "Hold Me Tight, conversation 3 (Revisiting a Rocky Moment) once this week, 20 minutes at a calm time.",
    6: "Each partner writes one sentence about what they heard underneath the other's words this week.",
    7: "Practise the in-session request once this week at a calm time, and the response that was "
    "practised with it.",
    8: "Weekly 30-minute check-in on practical decisions, starting with how each of you is doing.",
    9: "Write together the story of your cycle and how you step out of it; keep the weekly "
    "connection ritual.",
}
PLAN_NEXT = {
    1: "Individual sessions with each partner to complete assessment, then return to conjoint work.",
    2: "Continue tracking the cycle; begin accessing the emotion beneath each position.",
    3: "Continue accessing primary emotion, especially for {w}; work toward reframing the cycle.",
    4: "Consolidate de-escalation; prepare for withdrawer re-engagement.",
    5: "Continue withdrawer re-engagement; attend to {p}'s responses.",
    6: "Move toward enactments of direct requests.",
    7: "Continue softening enactments; review progress on the CSI-4 next session.",
    8: "Continue consolidation; discuss spacing sessions out.",
    9: "Move to every other week and plan a follow-up in two months.",
}
POSITIONS = {
    "early": {
        "pursuer": "Pursues: presses for answers and raises concerns again when {w} goes quiet; protest "
        "comes out as criticism. Underneath: fear of not mattering.",
        "withdrawer": "Withdraws: goes quiet, explains or defends, leaves the room when it gets loud. "
        "Underneath: feels criticised and afraid of making it worse.",
    },
    "middle": {
        "pursuer": "Still reaches with urgency, but can name the fear under the protest when slowed down.",
        "withdrawer": 'Stays in the room longer; can say "I\'m overwhelmed" and ask for a pause with '
        "a time to come back.",
    },
    "late": {
        "pursuer": 'Softer: asks directly for reassurance ("I need to know I matter to you") and can '
        "wait for the answer.",
        "withdrawer": "Re-engaged: offers reassurance unprompted and names own needs instead of going quiet.",
    },
}
QUOTES = {
    "early": {
        "pursuer": [
            "It feels like I'm always the one who has to bring things up.",
            "When you go quiet I don't know where I stand.",
            "I asked three times and got nothing back.",
        ],
        "withdrawer": [
            "Whatever I say is wrong, so I stop saying anything.",
            "I just need a minute and it turns into a trial.",
            "I'm trying to keep it from blowing up.",
        ],
    },
    "middle": {
        "pursuer": [
            "I noticed I was about to push and I said 'this is the cycle' instead.",
            "Underneath the anger I think I'm scared you're drifting away.",
        ],
        "withdrawer": [
            "I told you I needed twenty minutes and I came back. That was new.",
            "When you get sharp I feel like I'm failing you.",
        ],
    },
    "late": {
        "pursuer": [
            "I asked for a hug instead of an explanation and it worked.",
            "I can wait now. I know you'll come back.",
        ],
        "withdrawer": [
            "I didn't go quiet this time; I told you I was scared of getting it wrong.",
            "I want you to know you matter to me, even when I'm quiet.",
        ],
    },
}
SAFETY_REVIEW = (
    "Asked about safety at home since the last session: both partners deny physical aggression, threats "
    "or feeling afraid of the other. No suicidal or homicidal ideation reported."
)
SAFETY_REVIEW_INDIVIDUAL = (
    "Individual safety screen: HITS given verbally, score 4 (negative). Denies fear of partner, coercion "
    "or suicidal ideation."
)
MODALITY_TEXT = {
    TherapySession.Modality.IN_PERSON: "in person",
    TherapySession.Modality.VIDEO: "by video",
    TherapySession.Modality.PHONE: "by phone",
}


def _possessive(partner: Partner) -> str:
    """The possessive of the partner's own pronouns: his, her, or their (also when none are given)."""
    return {"he": "his", "she": "her"}.get(partner.pronouns.split("/")[0].strip().lower(), "their")


def _phase(step: int) -> str:
    return "early" if step <= 3 else "middle" if step <= 6 else "late"


def _stage(step: int) -> int:
    return 1 if step <= 4 else 2 if step <= 7 else 3


# THE PLAN OF A COUPLE'S EIGHT WEEKS (drawn first, written second)
# ------------------------------------------------------------------------------
@dataclass
class EpisodePlan:
    day: int
    reporter_seat: int
    intensity: int
    minutes: int
    repair_attempted: bool
    repair_worked: bool | None
    trigger: str
    local_time: datetime.time
    shared: bool


@dataclass
class SessionPlan:
    day: int
    week: int
    kind: str
    seat: int | None
    status: str
    modality: str
    hour: int
    enacted_intensity: int | None = None  # an episode enacted in session, if any


@dataclass
class CheckInPlan:
    day: int
    seat: int
    answers: dict
    minutes_late: int


@dataclass
class CouplePlan:
    episodes: list[EpisodePlan]
    sessions: list[SessionPlan]
    checkins: list[CheckInPlan]
    csi: list[CheckInPlan]


def _lerp(pair: tuple[float, float], t: float) -> float:
    return pair[0] + (pair[1] - pair[0]) * t


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def plan_couple(spec: CoupleSpec, rng: random.Random) -> CouplePlan:
    """Draw the couple's eight weeks: episodes, sessions and check-ins, by day index 0–55."""
    trend = spec.trend
    episodes: list[EpisodePlan] = []
    sessions: list[SessionPlan] = []
    for week in range(HISTORY_DAYS // 7):
        t = week / (HISTORY_DAYS // 7 - 1)
        low = _clamp(_lerp((trend.intensity_start[0], trend.intensity_end[0]), t), 0, 10)
        high = max(low, _clamp(_lerp((trend.intensity_start[1], trend.intensity_end[1]), t), 0, 10))
        count = round(_lerp(trend.rate, t))
        # Repairs are spread evenly (not left to chance) so each week shows the trend.
        tried = rng.sample(range(count), round(count * _lerp(trend.repair_tried, t)))
        landed = set(rng.sample(tried, round(len(tried) * _lerp(trend.repair_worked, t))))
        for index, weekday in enumerate(sorted(rng.sample(range(7), count))):
            intensity = rng.randint(low, high)
            attempted = index in tried
            worked = (index in landed) if attempted else None
            reporter = spec.pursuer_seat if rng.random() < 0.6 else 3 - spec.pursuer_seat
            episodes.append(
                EpisodePlan(
                    day=week * 7 + weekday,
                    reporter_seat=reporter,
                    intensity=intensity,
                    minutes=max(5, intensity * rng.randint(4, 12)),
                    repair_attempted=attempted,
                    repair_worked=worked,
                    trigger=rng.choice(spec.triggers),
                    local_time=datetime.time(rng.randint(18, 21), rng.randrange(0, 60, 5)),
                    shared=spec.partners[reporter - 1].shares and rng.random() < 0.6,
                )
            )
        status = TherapySession.Status.HELD
        if week == spec.cancelled_week:
            status = TherapySession.Status.CANCELLED
        elif week == spec.no_show_week:
            status = TherapySession.Status.NO_SHOW
        enacted = None
        if status == TherapySession.Status.HELD and rng.random() < _lerp((0.85, 0.35), t) * (high / 9):
            enacted = max(0, rng.randint(low, high) - 1)
        sessions.append(
            SessionPlan(
                day=week * 7 + spec.session_day,
                week=week,
                kind=TherapySession.Kind.JOINT,
                seat=None,
                status=status,
                modality=spec.modality,
                hour=spec.session_hour,
                enacted_intensity=enacted,
            )
        )
        if week in spec.individual_weeks:
            sessions.append(
                SessionPlan(
                    day=week * 7 + spec.session_day + 2,
                    week=week,
                    kind=TherapySession.Kind.INDIVIDUAL,
                    seat=spec.individual_weeks[week],
                    status=TherapySession.Status.HELD,
                    modality=spec.modality,
                    hour=spec.session_hour,
                )
            )

    by_day = {episode.day: episode for episode in episodes}
    # Each partner answers their own share of the days (their adherence), on days drawn at random.
    answered = {
        seat: {
            HISTORY_DAYS - CHECKIN_DAYS + d
            for d in rng.sample(range(CHECKIN_DAYS), round(partner.adherence * CHECKIN_DAYS))
        }
        for seat, partner in enumerate(spec.partners, start=1)
    }
    if spec.safety_flag_seat:
        answered[spec.safety_flag_seat].add(HISTORY_DAYS - 1)
    checkins: list[CheckInPlan] = []
    for day in range(HISTORY_DAYS - CHECKIN_DAYS, HISTORY_DAYS):
        t = day / (HISTORY_DAYS - 1)
        for seat in (1, 2):
            submitted = day in answered[seat]
            noise = rng.gauss(0, 1)
            late = rng.randint(3, 95)
            move_roll = rng.random()
            if not submitted:
                continue
            episode = by_day.get(day)
            connection = _lerp(trend.connection, t) + noise - (1.5 if episode else 0)
            answers: dict = {
                "cycle_showed_up": episode is not None,
                "connection": _clamp(connection, 0, 10),
                "felt_unsafe": False,
            }
            if episode is not None:
                pursues = seat == spec.pursuer_seat
                softened = _lerp((0.0, 0.5), t) if spec.steps_by_week[-1] >= 5 else 0.05
                if move_roll < softened:
                    move = "toward" if not pursues else "neither"
                else:
                    move = "toward" if pursues else "away"
                answers.update(
                    my_move=move,
                    intensity=_clamp(episode.intensity + noise / 2, 0, 10),
                    minutes=min(240, episode.minutes),
                    repair_tried=episode.repair_attempted,
                )
                if episode.repair_attempted:
                    answers["repair_worked"] = bool(episode.repair_worked)
            checkins.append(CheckInPlan(day=day, seat=seat, answers=answers, minutes_late=late))

    weeks = HISTORY_DAYS // 7
    answered_weeks = {
        seat: set(rng.sample(range(weeks), round(min(0.95, partner.adherence + 0.1) * weeks)))
        for seat, partner in enumerate(spec.partners, start=1)
    }
    csi: list[CheckInPlan] = []
    for week in range(weeks):
        t = week / (weeks - 1)
        for seat in (1, 2):
            submitted = week in answered_weeks[seat]
            level = _lerp(trend.satisfaction, t) + rng.gauss(0, 0.04)
            jitter = [rng.choice((-1, 0, 0, 1)) for _ in range(4)]
            late = rng.randint(5, 120)
            if not submitted:
                continue
            answers = {
                "csi1": _clamp(level * 6 + jitter[0] * 0.6, 0, 6),
                "csi12": _clamp(level * 5 + jitter[1] * 0.6, 0, 5),
                "csi19": _clamp(level * 5 + jitter[2] * 0.6, 0, 5),
                "csi22": _clamp(level * 5 + jitter[3] * 0.6, 0, 5),
            }
            # ``day`` holds the week here; the writer maps it to that week's Sunday (the CSI-4's due day).
            csi.append(CheckInPlan(day=week, seat=seat, answers=answers, minutes_late=late))
    return CouplePlan(episodes=episodes, sessions=sessions, checkins=checkins, csi=csi)


# WRITING IT
# ------------------------------------------------------------------------------
@dataclass
class SeedResult:
    seconds: float
    counts: dict[str, int]


class _Seeder:
    def __init__(self, *, now: datetime.datetime) -> None:
        self.now = now
        self.users: dict[str, object] = {}
        self.clinicians: dict[str, Clinician] = {}
        self.practices: dict[str, Practice] = {}
        self.prelicensed_notes: list[SessionNote] = []

    # People ---------------------------------------------------------------
    def people(self) -> None:
        user_model = get_user_model()
        # One hash for the shared demo password: hashing is deliberately slow, seeding should not be.
        password = make_password(DEMO_PASSWORD)
        if not user_model.objects.filter(username=OPERATOR.email).exists():
            user_model.objects.create(
                username=OPERATOR.email,
                email=OPERATOR.email,
                password=password,
                first_name="Cyclecare",
                last_name="Operator",
                is_staff=True,
                is_superuser=True,
            )
        for practice_spec in PRACTICES:
            practice = clinician_services.practice_create(
                name=practice_spec.name, slug=practice_spec.slug, time_zone=practice_spec.time_zone
            )
            self.practices[practice.slug] = practice
            supervisor = None
            for staff in practice_spec.staff:
                user = user_model.objects.create(
                    username=staff.email,
                    email=staff.email,
                    password=password,
                    first_name=staff.first_name,
                    last_name=staff.last_name,
                    is_staff=staff.role == Clinician.Role.PRACTICE_ADMIN,
                )
                clinician = clinician_services.clinician_create(
                    practice=practice,
                    user=user,
                    display_name=staff.display_name,
                    role=staff.role,
                    credentials=staff.credentials,
                    licence_number=staff.licence_number,
                    licence_jurisdiction=staff.licence_jurisdiction,
                    is_prelicensed=staff.is_prelicensed,
                    supervisor=supervisor if staff.supervised else None,
                )
                if staff.role == Clinician.Role.SUPERVISOR:
                    supervisor = clinician
                if staff.role == Clinician.Role.PRACTICE_ADMIN:
                    # Read-only admin pages for their own practice (the admin scopes them to it).
                    user.user_permissions.add(
                        *Permission.objects.filter(
                            content_type__app_label="clinician",
                            codename__in=["view_practice", "view_clinician"],
                        )
                    )
                self.users[staff.email] = user
                self.clinicians[staff.email] = clinician

    # One couple ----------------------------------------------------------
    def couple(self, spec: CoupleSpec, instruments: dict[str, Instrument]) -> None:
        rng = random.Random(f"{SEED}:{spec.key}")  # noqa: S311 (demo content, not secrets)
        plan = plan_couple(spec, rng)
        practice = self.practices[spec.practice]
        zone = zoneinfo.ZoneInfo(practice.time_zone)
        today = self.now.astimezone(zone).date()
        start = today - datetime.timedelta(days=HISTORY_DAYS)
        clinician = self.clinicians[spec.clinician]
        user = self.users[spec.clinician]
        opener = next(
            (
                self.users[s.email]
                for p in PRACTICES
                if p.slug == spec.practice
                for s in p.staff
                if s.role == Clinician.Role.PRACTICE_ADMIN
            ),
            user,
        )

        couple = couple_services.couple_create(
            user=opener,
            label=spec.label,
            primary_clinician=clinician,
            started_on=start - datetime.timedelta(days=7 * spec.weeks_before_history),
            eft_step=spec.steps_by_week[-1],
        )
        partners: dict[int, Partner] = {}
        for partner_spec in spec.partners:
            details: dict = {
                "pronouns": partner_spec.pronouns,
                "preferred_channel": partner_spec.channel,
                "email": partner_spec.email,
                "phone": partner_spec.phone,
            }
            if partner_spec.quiet_hours:
                details["quiet_hours_start"], details["quiet_hours_end"] = partner_spec.quiet_hours
            partner = couple_services.partner_add(
                user=opener,
                couple=couple,
                display_name=partner_spec.display_name,
                time_zone=partner_spec.time_zone,
                **details,
            )
            partners[partner.seat] = partner
        for seat, partner in partners.items():
            partner_spec = spec.partners[seat - 1]
            couple_services.consent_record(
                actor=user,
                partner=partner,
                kind=Consent.Kind.TREATMENT,
                granted=True,
                method=Consent.Method.WRITTEN,
            )
            by_sms = partner_spec.channel == Partner.Channel.SMS
            couple_services.consent_record(
                actor=partner,
                partner=partner,
                kind=Consent.Kind.SMS if by_sms else Consent.Kind.EMAIL,
                granted=True,
                method=Consent.Method.ELECTRONIC,
            )
            couple_services.consent_record(
                actor=partner,
                partner=partner,
                kind=Consent.Kind.SHARING,
                granted=partner_spec.shares,
                method=Consent.Method.ELECTRONIC,
            )

        names = {
            "p": partners[spec.pursuer_seat].display_name.split()[0],
            "w": partners[3 - spec.pursuer_seat].display_name.split()[0],
            "trigger": spec.triggers[0],
        }
        self._cycle_maps(spec, couple, partners, user, names)
        self._assignments(spec, couple, partners, user, instruments, start, plan, today)
        self._sessions(spec, couple, partners, user, clinician, plan, start, zone, names)
        self._self_reports(spec, couple, partners, plan, start)

        # The next session, booked the ordinary way.
        next_day = today + datetime.timedelta(days=rng.randint(1, 6))
        couple_services.session_schedule(
            user=user,
            couple=couple,
            starts_at=datetime.datetime.combine(next_day, datetime.time(spec.session_hour), tzinfo=zone),
            modality=spec.modality,
            duration_minutes=80,
        )

    def _cycle_maps(self, spec, couple, partners, user, names) -> None:
        p, w = names["p"], names["w"]
        trigger = spec.triggers[0]
        summaries = (
            f"The more {p} pushes to talk about {trigger}, the more {w} goes quiet; the quieter {w} gets, "
            f"the harder {p} pushes.",
            f"When {trigger} comes up, {p} feels alone and afraid of not mattering and reaches hard; "
            f"{w} hears failure, feels ashamed and shuts down to stop it getting worse. The cycle is "
            f"the problem.",
            f'In their words: "When we feel far apart, {p} gets scared and comes at {w} hard, and {w} '
            f"feels like a failure and disappears. We are both trying to protect us. Now we say 'it's the "
            f"cycle', take a pause, and come back.\"",
        )
        for version in range(1, spec.map_versions + 1):
            positions = []
            for seat, partner in partners.items():
                pursues = seat == spec.pursuer_seat
                other = w if pursues else p
                if pursues:
                    position = {
                        "move": "pursue",
                        "trigger": f"{other} goes quiet or turns away when {trigger} comes up",
                        "perception": f"\"I don't matter; {other} doesn't care enough to engage.\"",
                        "surface_emotion": "Frustration, anger",
                        "underlying_emotion": "Fear of being alone; hurt" if version >= 2 else "",
                        "move_detail": "Raises it again, asks pointed questions, criticises, follows into "
                        "the next room",
                        "longing": "To know they matter and that their partner will come toward them"
                        if version >= 3
                        else "",
                    }
                else:
                    position = {
                        "move": "withdraw",
                        "trigger": f"{other}'s raised voice and repeated questions about {trigger}",
                        "perception": '"I\'m failing again; whatever I say will make it worse."',
                        "surface_emotion": "Numbness, irritation",
                        "underlying_emotion": "Shame, fear of failing their partner" if version >= 2 else "",
                        "move_detail": "Goes quiet, explains or defends, looks at the phone, leaves the room",
                        "longing": "To be accepted as enough, and to be given time without being judged"
                        if version >= 3
                        else "",
                    }
                positions.append({"partner": partner, **position})
            services.cycle_map_save(
                user=user, couple=couple, positions=positions, summary=summaries[version - 1]
            )

    def _assignments(self, spec, couple, partners, user, instruments, start, plan, today) -> None:
        both = list(partners.values())
        daily = services.assignment_create(
            user=user,
            couple=couple,
            partners=both,
            kind=Assignment.Kind.CHECK_IN,
            title="Daily cycle check-in",
            instrument=instruments["cycle-checkin"],
            schedule=Assignment.Schedule.DAILY,
            local_time=CHECKIN_TIME,
            starts_on=start + datetime.timedelta(days=HISTORY_DAYS - CHECKIN_DAYS),
            instructions="Two minutes each evening: did the cycle show up, which way did you move, and how "
            "connected did you feel?",
        )
        weekly = services.assignment_create(
            user=user,
            couple=couple,
            partners=both,
            kind=Assignment.Kind.CHECK_IN,
            title="Weekly relationship satisfaction (CSI-4)",
            instrument=instruments["csi-4"],
            schedule=Assignment.Schedule.WEEKLY,
            weekdays=SUNDAY,
            local_time=CSI_TIME,
            starts_on=start,
        )
        services.assignment_create(
            user=user,
            couple=couple,
            partners=both,
            kind=Assignment.Kind.PRACTICE,
            title="Practice from session",
            instructions=STEP_HOMEWORK[spec.steps_by_week[-1]],
            schedule=Assignment.Schedule.WEEKDAYS,
            weekdays=0b0001010,
            local_time=datetime.time(21, 0),
            starts_on=today,
        )

        # Every past due date becomes an occurrence (as the planner would have made it), answered
        # or not; the unanswered ones are left to the missed-occurrence service (see seed()).
        past = [start + datetime.timedelta(days=d) for d in range(HISTORY_DAYS)]
        sundays = [date for date in past if date.weekday() == 6]
        due: dict[tuple[int, int, datetime.date], Occurrence] = {}
        for partner in both:
            for assignment, dates, at in (
                (daily, past[HISTORY_DAYS - CHECKIN_DAYS :], CHECKIN_TIME),
                (weekly, sundays, CSI_TIME),
            ):
                for date in dates:
                    occurrence, _ = services.occurrence_materialise(
                        assignment=assignment, partner=partner, local_due_date=date, local_due_time=at
                    )
                    due[assignment.pk, partner.seat, date] = occurrence

        for checkin in plan.checkins:
            answers = dict(checkin.answers)
            if spec.safety_flag_seat == checkin.seat and checkin.day == HISTORY_DAYS - 1:
                # The open safety flag: a private "felt unsafe" answer on the latest check-in.
                answers["felt_unsafe"] = True
            self._submit(
                due[daily.pk, checkin.seat, past[checkin.day]],
                partners[checkin.seat],
                daily.instrument,
                answers,
                checkin.minutes_late,
                shared=spec.partners[checkin.seat - 1].shares and answers["cycle_showed_up"],
            )
        for checkin in plan.csi:
            self._submit(
                due[weekly.pk, checkin.seat, sundays[checkin.day]],
                partners[checkin.seat],
                weekly.instrument,
                checkin.answers,
                checkin.minutes_late,
            )

    def _submit(self, occurrence, partner, instrument, answers, minutes_late, shared=False) -> None:
        services.checkin_submit(
            partner=partner,
            instrument=instrument,
            answers=answers,
            occurrence=occurrence,
            shared_with_partner=shared,
            submitted_at=occurrence.due_at + datetime.timedelta(minutes=minutes_late),
        )

    def _sessions(self, spec, couple, partners, user, clinician, plan, start, zone, names) -> None:
        held: list[tuple[SessionPlan, TherapySession]] = []
        for session_plan in plan.sessions:
            day = start + datetime.timedelta(days=session_plan.day)
            individual = session_plan.kind == TherapySession.Kind.INDIVIDUAL
            session = TherapySession(
                practice_id=couple.practice_id,
                couple=couple,
                clinician=clinician,
                kind=session_plan.kind,
                partner=partners[session_plan.seat] if individual else None,
                modality=session_plan.modality,
                starts_at=datetime.datetime.combine(day, datetime.time(session_plan.hour), tzinfo=zone),
                duration_minutes=50 if individual else 80,
            )
            session.full_clean()
            session.save()
            audit_record(actor=None, action="seed.session", target=session)
            attendees = [partners[session_plan.seat]] if individual else list(partners.values())
            couple_services.session_record_outcome(
                user=user,
                session=session,
                status=session_plan.status,
                attendees=attendees if session_plan.status == TherapySession.Status.HELD else (),
            )
            if session_plan.status == TherapySession.Status.HELD:
                held.append((session_plan, session))
            if session_plan.enacted_intensity is not None:
                services.episode_record(
                    actor=user,
                    couple=couple,
                    session=session,
                    occurred_at=session.starts_at + datetime.timedelta(minutes=25),
                    intensity=session_plan.enacted_intensity,
                    pursuer=partners[spec.pursuer_seat],
                    withdrawer=partners[3 - spec.pursuer_seat],
                    duration_minutes=max(3, session_plan.enacted_intensity * 2),
                    repair_attempted=True,
                    repair_worked=True,
                    trigger=spec.triggers[session_plan.week % len(spec.triggers)],
                    notes="Enacted in session; slowed down and tracked move by move, then each partner "
                    "named what happened inside.",
                )

        previous_day = -7
        for index, (session_plan, session) in enumerate(held):
            latest = index == len(held) - 1
            step = spec.steps_by_week[session_plan.week]
            content = self._note_content(
                spec, partners, session_plan, session, step, previous_day, plan, names
            )
            if session_plan.kind == TherapySession.Kind.JOINT:
                previous_day = session_plan.day
            note = couple_services.note_create(
                user=user, session=session, format=spec.note_format, eft_stage=_stage(step), eft_step=step
            )
            note = couple_services.note_update_draft(user=user, note=note, **content)
            if latest and spec.leave_latest_note_draft:
                continue
            note = couple_services.note_sign(user=user, note=note)
            if clinician.is_prelicensed:
                self.prelicensed_notes.append(note)
            if spec.addendum_week is not None and session_plan.week == spec.addendum_week:
                couple_services.addendum_add(
                    user=user,
                    note=note,
                    body=f"Late entry: {names['w']} emailed the day after the session to add that the "
                    f"argument described above happened on Saturday, not Sunday, and that both partners "
                    f"used the pause phrase afterwards. No change to the assessment or plan.",
                )

    def _note_content(self, spec, partners, session_plan, session, step, previous_day, plan, names) -> dict:
        p, w = names["p"], names["w"]
        phase = _phase(step)
        focus = STEP_FOCUS[step].format(**names)
        interventions = "; ".join(STEP_INTERVENTIONS[step]).capitalize() + "."
        seen_text = MODALITY_TEXT[session.modality]
        rng = random.Random(f"{SEED}:{spec.key}:note:{session_plan.day}")  # noqa: S311 (demo content)
        quote_p = rng.choice(QUOTES[phase]["pursuer"])
        quote_w = rng.choice(QUOTES[phase]["withdrawer"])
        seat_p, seat_w = spec.pursuer_seat, 3 - spec.pursuer_seat
        moves = {seat_p: SessionNote.PartnerMove.PURSUE, seat_w: SessionNote.PartnerMove.WITHDRAW}
        if step >= 7:
            moves[seat_w] = SessionNote.PartnerMove.MIXED
        if step >= 9 and session_plan.enacted_intensity is None:
            moves = {seat_p: SessionNote.PartnerMove.NOT_SEEN, seat_w: SessionNote.PartnerMove.NOT_SEEN}
        position = {
            seat_p: POSITIONS[phase]["pursuer"].format(**names),
            seat_w: POSITIONS[phase]["withdrawer"].format(**names),
        }

        if session_plan.kind == TherapySession.Kind.INDIVIDUAL:
            seen_seat = session_plan.seat
            seen = partners[seen_seat].display_name.split()[0]
            quote = quote_p if seen_seat == seat_p else quote_w
            moves[3 - seen_seat] = SessionNote.PartnerMove.NOT_SEEN
            position[3 - seen_seat] = "Not seen in this session."
            opening = (
                f"Individual session with {seen} {seen_text} (50 min), part of assessment; the same is "
                f"offered to the other partner. Explored {seen}'s attachment history, what happens "
                f"inside when the cycle starts, and any concerns not easily raised in joint sessions."
            )
            sections = {
                "data": opening,
                "behavior": opening,
                "subjective": f'{opening} {seen}: "{quote}"',
                "objective": f"{seen} on time, open and reflective; affect congruent with content.",
                "intervention": f"{interventions} Individual safety screen completed.",
                "response": f'{seen} engaged openly ("{quote}") and agreed to bring one insight from '
                f"today back to the joint session.",
                "assessment": f"{seen} describes {_possessive(partners[seen_seat])} own part in the cycle "
                f"with growing clarity. Nothing disclosed that would prevent conjoint work. EFT stage "
                f"{_stage(step)}, step {step}.",
                "plan": f"Return to conjoint sessions next week. Homework: {STEP_HOMEWORK[step]}",
            }
            safety = SAFETY_REVIEW_INDIVIDUAL
        else:
            window = [e for e in plan.episodes if previous_day < e.day <= session_plan.day]
            if window:
                repaired = sum(1 for e in window if e.repair_worked)
                since = (
                    f"Since the last session they logged {len(window)} "
                    f"{'episode' if len(window) == 1 else 'episodes'} of the cycle (highest intensity "
                    f"{max(e.intensity for e in window)}/10), mostly around {window[-1].trigger}; "
                    f"repairs that worked: {repaired}."
                )
            else:
                since = "No episodes of the cycle were logged since the last session."
            enacted = (
                f"The cycle was enacted in session (intensity {session_plan.enacted_intensity}/10) and "
                f"slowed down move by move."
                if session_plan.enacted_intensity is not None
                else "No escalation in session."
            )
            improving = spec.trend.rate[1] < spec.trend.rate[0] - 1
            if improving and session_plan.week >= 3:
                course = (
                    "Episodes are shorter and less intense than at the start of this period and repair "
                    "attempts land more often."
                )
            elif improving:
                course = "The cycle is still frequent, but both partners can name it sooner."
            else:
                course = "The cycle is still frequent and intense; the alliance with both partners is good."
            opening = f"{p} and {w} attended a joint session {seen_text} (80 min). {since}"
            sections = {
                "data": f"{opening} {enacted}",
                "behavior": f"{opening} {enacted}",
                "subjective": f'{opening} {p}: "{quote_p}" {w}: "{quote_w}"',
                "objective": f"Both partners on time and engaged. {enacted} Affect congruent; {w} quieter "
                f"early in the session, more present after the pace slowed.",
                "intervention": f"{interventions} {focus}",
                "response": f'{p} said: "{quote_p}" {w} responded: "{quote_w}" Both agreed to the homework.',
                "assessment": f"{focus} The couple is in EFT stage {_stage(step)}, step {step}. {course}",
                "plan": f"Continue weekly conjoint sessions. {PLAN_NEXT[step].format(**names)} "
                f"Homework: {STEP_HOMEWORK[step]}",
            }
            safety = SAFETY_REVIEW
        content = {name: sections[name] for name in SessionNote.SECTIONS[spec.note_format]}
        content.update(
            partner_a_move=moves[1],
            partner_b_move=moves[2],
            partner_a_position=position[1],
            partner_b_position=position[2],
            interventions=interventions,
            homework_assigned=STEP_HOMEWORK[step],
            safety_review=safety,
        )
        return content

    def _self_reports(self, spec, couple, partners, plan, start) -> None:
        for episode in plan.episodes:
            reporter = partners[episode.reporter_seat]
            pursuer, withdrawer = partners[spec.pursuer_seat], partners[3 - spec.pursuer_seat]
            other = (withdrawer if reporter == pursuer else pursuer).display_name.split()[0]
            if reporter == pursuer:
                note = (
                    f"I kept bringing it up and {other} went quiet. I ended up saying things I didn't mean."
                )
            else:
                note = f"{other} kept pressing and I shut down, then left the room."
            if episode.repair_worked:
                note += " Later we used the pause phrase and talked it through."
            elif episode.repair_attempted:
                note += " One of us tried to reconnect later but it didn't really land."
            local = zoneinfo.ZoneInfo(reporter.time_zone)
            services.episode_record(
                actor=reporter,
                couple=couple,
                occurred_at=datetime.datetime.combine(
                    start + datetime.timedelta(days=episode.day), episode.local_time, tzinfo=local
                ),
                intensity=episode.intensity,
                pursuer=pursuer,
                withdrawer=withdrawer,
                duration_minutes=episode.minutes,
                repair_attempted=episode.repair_attempted,
                repair_worked=episode.repair_worked,
                trigger=episode.trigger,
                notes=note,
                shared_with_partner=episode.shared,
            )

    def cosign(self) -> None:
        """The supervisor co-signs every pre-licensed note but the latest, left for the demo."""
        notes = sorted(self.prelicensed_notes, key=lambda note: note.session.starts_at)
        for note in notes[:-1]:
            supervisor = note.author.supervisor
            couple_services.note_cosign(user=supervisor.user, note=note)


MODELS_COUNTED = (
    ("practices", Practice),
    ("clinicians", Clinician),
    ("couples", Couple),
    ("partners", Partner),
    ("consents", Consent),
    ("sessions", TherapySession),
    ("notes", SessionNote),
    ("co-signatures", NoteCoSignature),
    ("addenda", Addendum),
    ("cycle maps", CycleMap),
    ("episodes", CycleEpisode),
    ("assignments", Assignment),
    ("occurrences", Occurrence),
    ("check-ins", CheckIn),
    ("reminders", ReminderDelivery),
    ("safety flags", SafetyFlag),
    ("audit events", AuditEvent),
)


def catch_up_with_the_beat(*, now: datetime.datetime) -> None:
    """Run once, at ``now``, the periodic services of the beat (cyclecare.schedule) that act on
    the history: occurrences past the grace period become missed (``assignment.missed``, audited),
    and the planner writes the next REMINDER_PLAN_HOURS of occurrences and reminders, and the
    nudges due now. One late run of the missed-occurrence service leaves what a run every five
    minutes would have, because every check-in of the history is answered within two hours of
    its due time, long before the grace period ends; the planner plans from now on, like a beat
    started now; the report rollups are then built from it all."""
    services.occurrences_mark_missed(now=now)
    planner.plan(now=now)
    planner.plan_nudges(now=now)
    rollups.refresh_rollups(now=now)


def seed() -> SeedResult:
    """Build the whole demo in one transaction. Call only when demo_present() is false."""
    started = time.monotonic()
    seeder = _Seeder(now=timezone.now())
    with transaction.atomic():
        installed = services.instruments_install_shipped()
        instruments = {instrument.code: instrument for instrument in installed}
        seeder.people()
        for spec in COUPLES:
            seeder.couple(spec, instruments)
        seeder.cosign()
        catch_up_with_the_beat(now=seeder.now)
    # What the flag's own task does once the flag is committed (the seed's on_commit task then
    # finds the email sent and does nothing).
    for flag_id in SafetyFlag.objects.filter(
        practice__in=seeder.practices.values(), clinician_notified_at__isnull=True
    ).values_list("pk", flat=True):
        services.safety_flag_notify_clinician(flag_id=flag_id)
    counts = {name: model.objects.count() for name, model in MODELS_COUNTED}
    return SeedResult(seconds=time.monotonic() - started, counts=counts)


def admin_url() -> str:
    return f"{cyclecare_settings.SITE_URL.rstrip('/')}/admin/"
