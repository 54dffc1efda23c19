"""On-call schedules (config/oncall.yml): the model, its loader and the resolver.

``now_and_next(schedules, at)`` answers the console's "on call now / next" panel and
``vigil oncall``; the engine resolves schedule targets when a step fires
(router/oncall/routing.py) and sends hand-off notices (router/oncall/handoff.py).
"""

from router.oncall.model import Oncall, Person, Schedule
from router.oncall.resolve import NowNext, OnCall, now_and_next, on_call

__all__ = ["NowNext", "OnCall", "Oncall", "Person", "Schedule", "now_and_next", "on_call"]
