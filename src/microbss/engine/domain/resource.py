"""Network resources a subscriber holds: an MSISDN, an IMSI and optionally a handset (IMEI)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ResourceType(StrEnum):
    MSISDN = "MSISDN"
    IMSI = "IMSI"
    HANDSET = "HANDSET"

    @property
    def request_field(self) -> str:
        """The CreateSubscriber field that names a resource of this type."""
        return {"MSISDN": "msisdn", "IMSI": "imsi", "HANDSET": "handset_imei"}[self.value]


@dataclass(frozen=True, slots=True)
class Resource:
    type: ResourceType
    value: str
    model: str = ""  # handset model name; empty for MSISDNs and IMSIs
