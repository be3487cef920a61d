"""The API's JSON parser: DRF's, with the body's size and nesting bounded before parsing.

Python's json module recurses once per nested array or object, so a body of a thousand ``[``
raises RecursionError, which would be a 500. The body is scanned first (strings skipped, so
brackets inside text do not count) and refused with a 400 when it nests deeper than any real
payload; a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413 here too, whichever DRF version
hands the parser the raw request stream.
"""

import re

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.utils import json

# A JSON string (to its closing quote, or the end of the body when unterminated), or a run of
# anything that is neither a string nor a bracket: removing both leaves the brackets that nest.
# Possessive quantifiers never backtrack, so this is linear in the body's length.
_STRING_OR_TEXT = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)|[^"\[\]{}]++', re.DOTALL)
_OPENING = frozenset("[{")


class RequestBodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The request body is too large."


def nesting_exceeds(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests arrays and objects more than ``limit`` deep."""
    if text.count("[") + text.count("{") <= limit:
        return False  # every real payload: fewer brackets in all than the limit
    depth = 0
    for bracket in _STRING_OR_TEXT.sub("", text):
        if bracket in _OPENING:
            depth += 1
            if depth > limit:
                return True
        elif depth == 0:
            return False  # an unmatched closing bracket: json.loads stops there too
        else:
            depth -= 1
    return False


class BoundedJSONParser(parsers.JSONParser):
    """application/json, refused with a 400 when nested more than ``max_depth`` deep and a 413
    when longer than ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    # The API's request bodies nest a few levels (a check-in's answers, a cycle map's positions).
    max_depth = 64

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        max_size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if max_size is None else stream.read(max_size + 1)
        if max_size is not None and len(raw) > max_size:
            raise RequestBodyTooLarge()
        try:
            text = raw.decode(encoding)  # bytes.decode refuses non-text codecs such as bz2_codec
        except (LookupError, UnicodeDecodeError):
            raise ParseError("JSON parse error - the body is not text in its declared charset.") from None
        if nesting_exceeds(text, self.max_depth):
            raise ParseError(f"JSON parse error - nested more than {self.max_depth} levels deep.")
        parse_constant = json.strict_constant if self.strict else None
        try:
            return json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
