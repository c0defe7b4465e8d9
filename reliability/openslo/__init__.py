"""OpenSLO v1 in and out: ``reader`` turns documents into native services (while the config is
read), ``writer`` the native config back into documents (docs/openslo.md has the subset)."""
