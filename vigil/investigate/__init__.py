"""Investigating an incident in the monitored database: its scope, records, traffic, integrity.

The runbook's ``incident:logs:collect``, ``incident:traffic:analyze`` and
``incident:integrity:check``: ``vigil incident logs|traffic|integrity ID``
(vigil/investigate/cli.py).
"""
