"""Date and time formats of the CRM, one module per language (Django's ``FORMAT_MODULE_PATH``).

One convention everywhere, always in the operator's time zone: English pages write ISO-like
``2026-11-27`` and ``2026-11-27 19:34``, Spanish pages ``27/11/2026`` and ``27/11/2026 19:34``.
A 24-hour clock, never "p.m." or "midnight". Date inputs take the page's own convention first
and ISO ``YYYY-MM-DD`` always. Anything not set here (number separators) stays Django's.
"""
