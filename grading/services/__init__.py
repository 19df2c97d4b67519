"""Writes to the gradebook, one module per kind of change; every public name is re-exported here so
callers (quizzes, projects, lti, the views) keep writing ``grading.services.grade_post``.

- ``grades``: grade_post (scores computed by quizzes and the autograder), grade_set (manual entry),
  each with its GradeChange history row; the points checks.
- ``imports``: CSV import, planned (import_plan) then applied all or nothing (import_apply).
- ``letters``: releasing an item's grades, letter overrides, the letter scale.
- ``setup``: categories and items (create, update, delete), with the late policy re-applied.
- ``_validation``: the set-up services' field checks (private; grading.options uses them too).
"""

from __future__ import annotations

from .grades import (
    MAX_GRADE,
    grade_post,
    grade_set,
    item_late_penalty,
    parse_grade_points,
    validate_points,
)
from .imports import (
    MAX_IMPORT_BYTES,
    STUDENT_NUMBER_HEADERS,
    ImportChange,
    ImportPlan,
    import_apply,
    import_plan,
)
from .letters import item_release, letter_override_set, letter_scale_set, role_in_course
from .setup import (
    CATEGORY_DEFAULTS,
    CATEGORY_FIELDS,
    ITEM_DEFAULTS,
    ITEM_FIELDS,
    POLICY_FIELDS,
    REPOSTED_SOURCES_EXCLUDED,
    category_create,
    category_delete,
    category_update,
    item_create,
    item_delete,
    item_update,
)

__all__ = [
    "CATEGORY_DEFAULTS", "CATEGORY_FIELDS", "ITEM_DEFAULTS", "ITEM_FIELDS", "MAX_GRADE", "MAX_IMPORT_BYTES",
    "POLICY_FIELDS", "REPOSTED_SOURCES_EXCLUDED", "STUDENT_NUMBER_HEADERS", "ImportChange", "ImportPlan",
    "category_create", "category_delete", "category_update", "grade_post", "grade_set", "import_apply", "import_plan",
    "item_create", "item_delete", "item_late_penalty", "item_release", "item_update", "letter_override_set",
    "letter_scale_set", "parse_grade_points", "role_in_course", "validate_points",
]
