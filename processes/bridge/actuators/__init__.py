"""BEMCom actuator values -> OCPP calls -> ``__result`` outcomes.

- ``table.py``: one spec per actuator kind (level, example, needs, plans per protocol version),
  the actuator keys, and :func:`~processes.bridge.actuators.table.plan_calls`;
- ``plan.py``: what a plan is made of (Context, OcppCall, Need, Plan, Result, reply outcomes);
- ``values.py``: value parsing (numbers, timestamps, power limits, transaction ids);
- ``v16.py``: the OCPP 1.6 plans;
- ``runner.py``: the per-charge-point queues that carry out writes.
"""
