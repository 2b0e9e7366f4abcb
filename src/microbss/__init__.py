"""microbss: a telecom BSS for small operators and MVNOs (charging engine + CRM)."""

__version__ = "0.1.0"
