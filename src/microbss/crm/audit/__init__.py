"""The CRM audit trail: one row per write (who did what to what) and the admin page to search it."""
