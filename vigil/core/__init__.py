"""vigil's shared library: what every application in this repository builds on.

config (YAML to frozen typed objects), secrets (scrubbing), logs, errors, clock (time that
tests control), pg (connections and DSNs), durations, listen (listen addresses), httpclient
(the one internal HTTP client) and migrations (the one migration runner). Nothing here
imports an application package (vigil.schema, exporter, router, ...): a test checks it.
"""
