"""Private file storage for lecture materials: MATERIALS_ROOT, never served by the web server.

The location is read from settings on every use (not cached at import) so tests and
deployments can point MATERIALS_ROOT elsewhere; files reach people only through the
material view, which checks membership first.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage


class MaterialStorage(FileSystemStorage):
    @property
    def base_location(self) -> str:
        return str(settings.MATERIALS_ROOT)

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("Lecture materials have no public URL; link to the material view instead.")


def materials_storage() -> MaterialStorage:
    """The storage of LectureMaterial.file (a callable, so migrations name it rather than a path)."""
    return MaterialStorage()
