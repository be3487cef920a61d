"""Keep secrets and PHI-bearing URL parts out of log lines."""

import logging
import re

# Partner links carry opaque tokens in the path; query strings may carry anything.
_TOKEN_SEGMENT = re.compile(r"/[A-Za-z0-9_\-:.]{24,}(?=/|$)")
_QUERY = re.compile(r"\?\S*")


def redact(text: str) -> str:
    return _QUERY.sub("?[redacted]", _TOKEN_SEGMENT.sub("/[redacted]", text))


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True
