"""BEMCom actuator values -> OCPP calls -> ``__result`` outcomes.

- ``table.py``: one spec per actuator kind (level, example, needs, plans per protocol version),
  the actuator keys, and :func:`~processes.bridge.actuators.table.plan_calls`;
- ``plan.py``: what a plan is made of (Context, OcppCall, Need, Plan, Result, reply outcomes);
- ``values.py``: value parsing (numbers, timestamps, power limits, transaction ids, the values
  of the other actuators), the same for every version;
- ``limits_fit.py``: BEMCom's charging profiles (ids, stack levels, fitting, leases, read-back),
  written by each version's :class:`~processes.bridge.actuators.limits_fit.Dialect`;
- ``v16.py``, ``v201.py``: the OCPP 1.6 and 2.0.1 plans (the same keys, each version's calls);
- ``facts.py``: the facts a limit is fitted to, and the last limits kept;
- ``runner.py``: the per-charge-point queues that carry out writes, each in its charge point's
  protocol version.
"""
