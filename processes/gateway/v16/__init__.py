"""OCPP 1.6: the session that answers a charge point (``session.py``), the calls the central
system makes (``calls.py``) and the configuration pass after a boot (``onboarding.py``). A
``v201`` package repeats these module names."""

from processes.gateway.v16.onboarding import onboard
from processes.gateway.v16.session import SUBPROTOCOL, ChargePointSession

__all__ = ["SUBPROTOCOL", "ChargePointSession", "onboard"]
