"""``vigil db maintain``: incremental access rollups and bounded storage (issue #16).

The SQL lives in vigil/schema/sql/009_rollups_retention.sql; this package only drives it, in
short transactions, as the least-privilege role ``vigil_maintainer``.
"""
