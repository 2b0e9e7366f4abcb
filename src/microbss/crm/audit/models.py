"""One row of the CRM's audit trail.

The actor is kept as a username string, not a foreign key: the row must keep saying who acted
even for a failed login by a name that is no user at all.
"""

from __future__ import annotations

import json
from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _


class Result(models.TextChoices):
    OK = "OK", _("OK")
    DENIED = "DENIED", _("Denied")
    FAILED = "FAILED", _("Failed")


class AuditEvent(models.Model):
    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.CharField(_("who"), max_length=64, db_index=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    target = models.CharField(_("target"), max_length=200, blank=True, db_index=True)
    result = models.CharField(_("result"), max_length=8, choices=Result.choices)
    client_address = models.CharField(_("client address"), max_length=64, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        db_table = "crm_audit_events"
        ordering: ClassVar[list[str]] = ["-at", "-id"]

    @property
    def details_text(self) -> str:
        """The details as compact, readable JSON for the audit page."""
        return json.dumps(self.details, ensure_ascii=False, sort_keys=True)

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target} {self.result}"
