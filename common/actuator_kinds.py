"""The actuator kinds of DATAPOINTS.md: the names ``OCPP_CONFIG`` selects from, by level.

The one list of the names. ``processes/bridge/actuators/table.py`` holds one spec per name
(what the actuator does) and refuses to load when the two disagree; it lives in the bridge,
while the settings, which must not import a process, need only the names.
"""

from __future__ import annotations

#: Offered for connector 0 and every connector a charge point reports: ``{cp}__{c}__{kind}``.
CONNECTOR_ACTUATORS = (
    "execute_send_charging_profile",
    "execute_send_charging_schedule",
    "execute_trigger_message",
    "execute_remote_start_transaction",
    "execute_remote_stop_transaction",
    "execute_unlock_connector",
    "execute_change_availability",
    "execute_clear_charging_profile",
)
#: Offered once per charge point: ``{cp}__{kind}``.
CHARGE_POINT_ACTUATORS = (
    "execute_reset",
    "execute_change_configuration",
    "execute_get_configuration",
    "execute_data_transfer",
    "execute_ocpp_call",
)
ACTUATOR_KINDS = CONNECTOR_ACTUATORS + CHARGE_POINT_ACTUATORS
