"""Subscriber search, onboarding and the subscriber workspace (profile, usage, bills, actions)."""
