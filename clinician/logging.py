"""Keep secrets and PHI-bearing URL parts out of log lines.

Partner links carry their token in the path (``/p/c/<token>/``, ``/p/h/<token>/``, and the
reminders' signed ``/r/stop/<token>/``), so any line naming a request path carries it: Django's
``Gone:`` / ``Bad Request:`` / ``Forbidden (CSRF …):`` warnings, runserver's and gunicorn's access
lines, a traceback's exception message. Redaction is done once per record, when it is made
(``install_record_redaction``, called from ``ClinicianConfig.ready``): the message is formatted
with its arguments, whatever their types, and redacted, and so are the traceback and stack
text. Every handler, whichever logger it hangs on, then only ever sees the redacted record.
"""

import logging
import re

# A token-like path segment: partner-link tokens (secrets.token_urlsafe(32): 43 characters of
# A-Z a-z 0-9 _ -) and signed tokens (base64 parts joined by ":", a compressed one starting with
# "."). Long enough that no route name or id matches; it ends wherever the token's characters do
# (a "/", "?", quote, space or the end of the line), but not at a "." (a file name in a traceback).
_TOKEN_SEGMENT = re.compile(r"/\.?[A-Za-z0-9_\-:]{24,}+(?!\.)")
# The same token without its path: an argument, a repr of view kwargs, an exception message.
_BARE_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])")
# Query strings may carry anything.
_QUERY = re.compile(r"\?\S*")
_EXCEPTION_FORMATTER = logging.Formatter()


def redact(text: str) -> str:
    text = _TOKEN_SEGMENT.sub("/[redacted]", text)
    return _QUERY.sub("?[redacted]", _BARE_TOKEN.sub("[redacted]", text))


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """The record with its message, traceback and stack text redacted, in place.

    The message is formatted here (``msg % args``), so arguments of any type (a request, a dict
    of arguments, an exception) are redacted as the text they print as. The traceback is
    rendered now, redacted into ``exc_text`` (which every Formatter prints as it is), and the
    live exception dropped, so no handler renders it, its message or its frames' variables
    itself."""
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: keep both, as text
        message = f"{record.msg} {record.args!r}"
    record.msg, record.args = redact(message), ()
    if record.exc_info:
        if not record.exc_text:
            record.exc_text = _EXCEPTION_FORMATTER.formatException(record.exc_info)
        record.exc_info = None
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactSecretsFilter(logging.Filter):
    """Redacts records that reach a handler or logger without being made in this process (a
    queue or socket listener), and gunicorn's own loggers (config/gunicorn.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_record_redaction() -> None:
    """Make every log record of this process redacted as it is made (idempotent)."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacts_secrets", False):
        return

    def make_redacted_record(*args, **kwargs) -> logging.LogRecord:
        return redact_record(make_record(*args, **kwargs))

    make_redacted_record.redacts_secrets = True
    logging.setLogRecordFactory(make_redacted_record)
