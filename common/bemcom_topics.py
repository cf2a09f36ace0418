"""The MQTT topics of BEMCOM.md for one connector name: the one place they are spelled.

Sensor and actuator topics are not here: BEMCom chooses them in the datapoint map."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Topics:
    """Built once per process: ``Topics(settings.connector_name)``."""

    connector_name: str
    heartbeat: str = field(init=False)
    logs: str = field(init=False)
    available_datapoints: str = field(init=False)
    datapoint_map: str = field(init=False)
    raw_message_to_db: str = field(init=False)

    def __post_init__(self) -> None:
        name = self.connector_name
        object.__setattr__(self, "heartbeat", f"{name}/heartbeat")
        object.__setattr__(self, "logs", f"{name}/logs")
        object.__setattr__(self, "available_datapoints", f"{name}/available_datapoints")
        object.__setattr__(self, "datapoint_map", f"{name}/datapoint_map")
        object.__setattr__(self, "raw_message_to_db", f"{name}/raw_message_to_db")
