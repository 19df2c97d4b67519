"""The API's one pagination class: `?limit=&offset=` read strictly, so no value reaches the database unchecked.

DRF's LimitOffsetPagination passes any whole number through to the query: a limit or offset
beyond a 64-bit integer made SQLite answer "datatype mismatch" and PostgreSQL "bigint out of
range" (a 500). Here a value that is not a whole number in range is a 400 that says what to send.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 1000
# Far above any list this site serves, far below a 64-bit integer.
MAX_OFFSET = 10**9


def _whole_number(request, name: str, *, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    # isdecimal() refuses signs, spaces, and digits int() would read but a database would not expect ("١٢").
    if not (text.isascii() and text.isdecimal()) or not low <= int(text) <= high:
        raise ParseError(f"{name} must be a whole number from {low} to {high}; “{raw[:40]}” is not.")
    return int(text)


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """`?limit=` 1…1000 (default PAGE_SIZE), `?offset=` 0…10⁹; anything else is answered 400 `{"detail"}`."""

    max_limit = MAX_LIMIT

    def get_limit(self, request) -> int | None:
        limit = _whole_number(request, self.limit_query_param, low=1, high=self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request) -> int:
        offset = _whole_number(request, self.offset_query_param, low=0, high=MAX_OFFSET)
        return 0 if offset is None else offset

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, MAX_OFFSET)}
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"].update(minimum=low, maximum=high)
        return parameters
