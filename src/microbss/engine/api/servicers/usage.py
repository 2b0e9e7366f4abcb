"""Usage RPCs (GetSubscriberUsage). Owned by E3, who fills this mixin in."""

from __future__ import annotations


class UsageRpcs:
    """Placeholder mixin until the usage RPCs land; the generated base answers UNIMPLEMENTED."""
