"""Collectors: SQL queries whose rows become metric families.

The built-ins (``builtin.py``) and the user's custom collectors from the YAML are the same
``CollectorSpec`` objects and run through the same machinery (``run.py``).
"""

from exporter.collectors.spec import CollectorSpec, MetricSpec, QuerySpec

__all__ = ["CollectorSpec", "MetricSpec", "QuerySpec"]
