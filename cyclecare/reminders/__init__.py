"""Homework reminders, delivered exactly once per occurrence and channel (DESIGN.md §4).

The database is the source of truth and the outbox:

- ``planner``: every few minutes (a static beat entry) the planner walks the active homework in
  keyset-paginated chunks and materialises, for each assigned partner, the occurrences due in
  the next ``REMINDER_PLAN_HOURS`` in the partner's own IANA zone (DST-correct), plus one
  ``ReminderDelivery`` row per occurrence for the partner's channel, whose ``next_attempt_at``
  is the due time moved past quiet hours and spread by a per-partner minute offset. It also
  writes nudges. Couples that are paused, discharged or have an unresolved safety flag are not
  planned.
- ``dispatch``: every minute the dispatcher returns rows stuck in SENDING (a lost worker), then
  stamps due PENDING rows and enqueues their ids in batches once that commits. A send task
  claims its rows (PENDING → SENDING, committed) with ``select_for_update(skip_locked=True)``,
  re-checks every rule (homework still active, couple not on hold, consent in force, outside
  quiet hours), sends, and records SENT / PENDING-with-backoff / FAILED. Two ticks, two tasks
  for one row or a redelivered task message all find the row already claimed.
- ``channels``: email through Django's email backends; SMS through a provider interface.
- ``messages``: what a partner receives — first name at most, the practice's name, a link to
  the check-in (or the partner's home page) and a stop/pause link. Never PHI.

Delivery is at least once per row, with a stable identity the receiving side can de-duplicate
on (an email's Message-ID, an SMS provider's Idempotency-Key): see ``dispatch`` for why.
"""
