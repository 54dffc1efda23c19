-- Functions are executable by PUBLIC by default; in vigil_monitor only the shipped grants count.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vigil_monitor FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA vigil_monitor FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA vigil_monitor FROM PUBLIC;
