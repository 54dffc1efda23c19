"""Evidence of an incident: a bundle of files, a manifest of their hashes, legal hold.

``vigil incident evidence collect|verify`` and ``vigil incident hold|release-hold``
(vigil/evidence/cli.py).
"""
