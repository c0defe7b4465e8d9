"""reliability-report: monthly SLO, incident, delivery and toil figures for SRE teams."""

__version__ = "0.1.0"
