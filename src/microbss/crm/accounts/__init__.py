"""CRM users (csr_users), login with TOTP MFA, profile and the admin users pages."""
