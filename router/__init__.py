"""vigil's escalation router: Alertmanager webhooks through the P1-P4 matrix, exactly once."""
