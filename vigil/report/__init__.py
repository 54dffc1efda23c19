"""The daily security report (issue #13): gather, render, store, attest, verify.

``report.json`` is the source of truth; ``report.html`` and ``report.md`` are rendered from
it. Each report carries the previous stored day's hash, so the series is tamper-evident.
"""
