"""``vigil metrics verify|collect``: the runbook's hourly metric collection checks (#13)."""
