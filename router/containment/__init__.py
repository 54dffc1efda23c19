"""Incident containment in the router (issue #12): the record of each action an incident's
responders take on a monitored database (request, approval, execution, release), its gate
(a second responder for the levels that need one) and its timeline events. The statements
themselves run in the CLI, against the monitored database (vigil/contain/)."""
