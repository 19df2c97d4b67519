"""A JSON parser that answers every unreadable body with a 400, deep nesting included.

DRF's JSONParser turns ValueError into a ParseError (400), but Python's json
module raises RecursionError for a body nested a few thousand levels deep, and
that would be a 500.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply; send a flat object.") from None


PARSERS = [SafeJSONParser, FormParser, MultiPartParser]
