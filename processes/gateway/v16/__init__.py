"""OCPP 1.6: the session that answers a charge point (``session.py``), the calls the central
system makes (``calls.py``), the configuration pass after a boot (``onboarding.py``) and the
local authorization list kept equal to the id tags file (``local_list.py``). A ``v201`` package
repeats these module names."""

from processes.gateway.v16.local_list import keep_local_list
from processes.gateway.v16.onboarding import onboard
from processes.gateway.v16.session import SUBPROTOCOL, ChargePointSession

__all__ = ["SUBPROTOCOL", "ChargePointSession", "keep_local_list", "onboard"]
