"""The MQTT connection of a process: paho-mqtt 2, driven by the process's asyncio loop.

- ``link.py``: :class:`MqttLink`, what processes use: connect and reconnect, subscriptions
  renewed on every connection, publications, the socket I/O scheduling, a kept session.
- ``reconnect.py``: when to try again (a gone broker every 0.5-0.75 s, a refusing one with capped
  back-off) and one warning per outage.
- ``paho_adapter.py``: the ``paho.Client`` subclass, the only code that touches paho's private
  members (listed in ``paho_members.py``, checked by tests/unit/test_paho_contract.py).
- ``confirmed.py``, ``exactly_once.py``: confirmed publications with QoS 1 and QoS 2: their
  packets and serial-number bookkeeping (QoS 2: 20 in flight, the session-present flag).
- ``connect.py``: the TCP connect and TLS handshake without blocking the loop.
- ``messages.py``: :class:`MqttMessage` and :func:`to_json`.
"""

from common.mqtt.link import MqttLink
from common.mqtt.messages import MqttMessage, to_json
from common.mqtt.paho_adapter import WRITE_BUFFER_LIMIT  # tests size payloads beyond it

__all__ = ["WRITE_BUFFER_LIMIT", "MqttLink", "MqttMessage", "to_json"]
