"""The ``<id:...>`` URL converter for database and engine ids.

Ids are 64-bit integers in the engine's API and in the CRM's tables. Django's ``<int:...>``
accepts any number of digits, and an id beyond 64 bits then fails deep inside protobuf or the
database driver (a 500); this converter lets at most 18 digits through, so such a URL is simply
"not found".
"""

from __future__ import annotations

from django.urls import register_converter


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")
