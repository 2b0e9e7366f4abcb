"""Read-only price plan pages and the plan/service/cycle name lookups used across the CRM."""
