"""The runbook's Recovery Procedures: ``vigil recovery verify`` runs the System Recovery
Checklist as checks, ``vigil recovery report`` writes it with the incident's timeline."""
