"""The MQTT connection of a process: paho-mqtt 2, driven by the process's asyncio loop.

- ``link.py``: :class:`MqttLink`, what processes use: connect and reconnect (capped, jittered
  backoff), subscriptions renewed on every connection, publications, the socket I/O scheduling.
- ``paho_adapter.py``: the ``paho.Client`` subclass, the only code that touches paho's private
  members (all listed there, checked by tests/unit/test_paho_contract.py).
- ``confirmed.py``: confirmed (QoS 1) publications: their packets and serial-number bookkeeping.
- ``connect.py``: the TCP connect and TLS handshake without blocking the loop.
- ``messages.py``: :class:`MqttMessage` and :func:`to_json`.
"""

from common.mqtt.link import MqttLink
from common.mqtt.messages import MqttMessage, to_json
from common.mqtt.paho_adapter import WRITE_BUFFER_LIMIT  # tests size payloads beyond it

__all__ = ["WRITE_BUFFER_LIMIT", "MqttLink", "MqttMessage", "to_json"]
