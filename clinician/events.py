"""A tiny in-process domain-event bus, so apps depend one way.

A service publishes what happened *inside its own transaction*::

    events.publish("note.signed", practice_id=note.practice_id, data={"note_id": note.pk, ...})

and every subscriber is called at once, in that transaction. A subscriber that writes rows (the
webhook outbox, say) therefore commits or rolls back with the write that caused the event, and a
subscriber that raises fails the write. Subscribers must not do slow work or I/O themselves: they
record it and enqueue it with ``transaction.on_commit``.

``clinician`` and ``couples`` publish without knowing who listens; ``cyclecare`` subscribes in
its ``AppConfig.ready()``. Event data is ids, codes and times only — never names, text, answers or
scores — and is reduced here to plain JSON values.
"""

import datetime
import uuid
from typing import Any, Protocol

from django.db import transaction

from .writes import Writes, together


class Subscriber(Protocol):
    def __call__(self, event: str, *, practice_id: int, data: dict[str, Any], writes: Writes) -> None: ...


# A code (an instrument code, a source) fits in this; longer strings are probably text, i.e. PHI.
MAX_CODE_LENGTH = 64

_subscribers: list[Subscriber] = []


def subscribe(handler: Subscriber) -> Subscriber:
    """Call ``handler(event, practice_id=..., data=..., writes=...)`` for every event; it adds the
    rows it writes to ``writes`` (``clinician.writes.Writes``). Idempotent."""
    if handler not in _subscribers:
        _subscribers.append(handler)
    return handler


def unsubscribe(handler: Subscriber) -> None:
    if handler in _subscribers:
        _subscribers.remove(handler)


def publish(event: str, *, practice_id: int, data: dict[str, Any], writes: Writes | None = None) -> None:
    """Tell every subscriber that ``event`` happened in a practice, so that the rows they write
    share the fate of the write it reports: either pass that write's ``writes`` (its rows are
    inserted together), or call this inside the service's transaction, after the write."""
    if writes is None and not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"publish({event!r}) must run inside the transaction of the write it reports.")
    plain = {key: _plain(key, value) for key, value in data.items()}
    if writes is not None:
        _tell(event, practice_id, plain, writes)
        return
    with together() as own:
        _tell(event, practice_id, plain, own)


def _tell(event: str, practice_id: int, plain: dict[str, Any], writes: Writes) -> None:
    for handler in list(_subscribers):
        handler(event, practice_id=practice_id, data=dict(plain), writes=writes)


def _plain(key: str, value: object) -> str | int | bool | None:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError(f"Event field {key!r}: give an aware datetime.")
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.date | uuid.UUID):
        return str(value)
    if isinstance(value, str) and len(value) <= MAX_CODE_LENGTH:
        return value
    raise ValueError(f"Event field {key!r}: only ids, codes and times may travel in an event.")
