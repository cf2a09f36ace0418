"""OCPP 1.6: the session that answers a charge point (``session.py``) and the calls the central
system makes (``calls.py``). A ``v201`` package repeats these module names."""

from processes.gateway.v16.session import SUBPROTOCOL, ChargePointSession

__all__ = ["SUBPROTOCOL", "ChargePointSession"]
