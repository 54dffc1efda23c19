"""The audit chain outside the database: sealer, keyed verifier, checkpoints (issue #16).

The audit trigger only appends to ``vigil_monitor.audit_buffer``; ``vigil audit seal`` chains
settled rows into ``audit_log`` with an HMAC key the database never holds, and
``vigil audit verify`` proves the chain against that key and the sealer's checkpoint file.
"""
