"""OCPP 2.0.1, with the module names of ``v16``: the session that answers a charging station
(``session.py``), the calls the CSMS makes (``calls.py``) and the configuration pass after a boot
(``onboarding.py``: GetBaseReport, then SetVariables where the device model differs) and the local
authorization list kept equal to the id tags file (``local_list.py``)."""

from processes.gateway.v201.local_list import keep_local_list
from processes.gateway.v201.onboarding import onboard
from processes.gateway.v201.session import SUBPROTOCOL, ChargingStationSession

__all__ = ["SUBPROTOCOL", "ChargingStationSession", "keep_local_list", "onboard"]
