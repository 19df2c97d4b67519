"""The one JSON parser every API uses: a body it cannot use is a 400 that says what to send.

DRF's JSONParser turns a syntax error into a 400, but two bodies still reached the views as
500s: one nested a few thousand levels deep (Python's json raises RecursionError), and a
valid JSON value that is not an object (`[null, null]`, `3`, `"x"`), on which the first
``request.data.get(...)`` fails. Every API body of this site is an object with named fields.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser


class ObjectJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply; send a flat object.") from None
        if not isinstance(data, dict):
            kind = "list" if isinstance(data, list) else "single value"
            raise ParseError(f"Send a JSON object with named fields (see /api/docs/), not a {kind}.")
        return data


PARSERS = [ObjectJSONParser, FormParser, MultiPartParser]
