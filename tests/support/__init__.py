"""Test support: throwaway Prometheus/Alertmanager servers, the Prometheus API, polling with a
deadline, free ports and the rule lint. Imported by tests only (``from support import ...``);
the product's rule overlay is vigil.stack.ruleoverlay."""
