"""regiongate: per-request geographic access decisions for AI model APIs, with an audit trail."""

__version__ = "0.1.0"
