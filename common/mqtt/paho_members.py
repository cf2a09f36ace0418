"""Every private paho-mqtt member common/mqtt/paho_adapter.py depends on, listed once with what
it is used for (the adapter re-exports these names). tests/unit/test_paho_contract.py checks
them against the installed paho: a paho upgrade that changes one of them fails there first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: The paho-mqtt release the members below were checked against (requirements.txt pins it).
PAHO_VERSION = "2.2.0"


@dataclass(frozen=True, slots=True)
class PahoMember:
    """A member of ``paho.mqtt.client.Client`` (or, with a dotted name, of a paho module) that
    this module depends on. For methods, ``signature`` is ``str(inspect.signature(...))`` and
    ``source_sha256`` the first 16 hex digits of the SHA-256 of ``inspect.getsource(...)``, both
    of paho's own method under PAHO_VERSION."""

    name: str
    kind: Literal["overridden", "called", "attribute", "module"]
    use: str
    signature: str = ""
    source_sha256: str = ""


# fmt: off
PAHO_PRIVATE_MEMBERS: tuple[PahoMember, ...] = (
    # -- methods overridden (each also calls paho's own through super()) --
    PahoMember(
        "_sock_send", "overridden",
        "socket writes go into out_buffer (MqttLink sends it once per loop iteration); BlockingIOError "
        "when it is full keeps paho's packet queued",
        "(self, buf: 'bytes | bytearray') -> 'int'", "300d9f1031bd0dbd",
    ),
    PahoMember(
        "_sock_recv", "overridden",
        "socket reads are served from a 64 KiB chunk; paho's own reads the next chunk",
        "(self, bufsize: 'int') -> 'bytes'", "c3b9043a46dd81b7",
    ),
    PahoMember(
        "_create_socket_connection", "overridden",
        "returns the TCP socket MqttLink connected without blocking; paho's own when there is none",
        "(self) -> '_socket.socket'", "fb7815d85a2c9461",
    ),
    PahoMember(
        "_ssl_wrap_socket", "overridden",
        "returns the SSL socket whose handshake MqttLink did without blocking; paho's own otherwise",
        "(self, tcp_sock: '_socket.socket') -> 'ssl.SSLSocket'", "a71513b1452dc33b",
    ),
    PahoMember(
        "_handle_pubackcomp", "overridden",
        "the MQTT 3.1.1 PUBACK without reason code and properties objects: confirms a confirmed "
        "publication, or completes paho's own message; paho's own for MQTT 5 and when on_publish is set",
        "(self, cmd: \"Literal['PUBACK', 'PUBCOMP']\") -> 'MQTTErrorCode'", "04d39ba283b1f3be",
    ),
    PahoMember(
        "_handle_connack", "overridden",
        "reads the session-present flag; after paho's own, once connected: paho's queued packets "
        "(the SUBSCRIBEs of on_connect) first, then every unconfirmed confirmed publication again",
        "(self) -> 'MQTTErrorCode'", "39267140212c8b5f",
    ),
    PahoMember(
        "_handle_pubrec", "overridden",
        "the MQTT 3.1.1 PUBREC of a QoS 2 confirmed publication answered with its PUBREL without "
        "paho; paho's own for its own messages and MQTT 5",
        "(self) -> 'MQTTErrorCode'", "f2f5486e56c92cfb",
    ),
    PahoMember(
        "_packet_read", "overridden",
        "between packets, a run of PUBACKs for confirmed publications is read straight from the "
        "chunk; paho's own reads every other packet",
        "(self) -> 'MQTTErrorCode'", "bbe32d8af1e37955",
    ),
    # -- methods called --
    PahoMember(
        "_do_on_publish", "called",
        "completes paho's own QoS 1 message on the short PUBACK path, as paho's handler does",
        "(self, mid: 'int', reason_code: 'ReasonCode', properties: 'Properties') -> 'MQTTErrorCode'",
        "5bbcad6f9447107a",
    ),
    PahoMember(
        "_mid_generate", "called",
        "message ids of confirmed publications, from paho's counter: never one of paho's own in flight",
        "(self) -> 'int'", "55fc1e4a5f1584fb",
    ),
    PahoMember(
        "_raise_for_invalid_topic", "called",
        "the topic check of paho's publish (no wildcards, at most 65535 bytes) for confirmed publications",
        "(topic: 'bytes') -> 'None'", "985dad9e15a6396a",
    ),
    # -- attributes (instance attributes paho's __init__ sets) --
    PahoMember("_sock", "attribute", "read: None means not connected; its pending() counts decrypted TLS bytes"),
    PahoMember("_state", "attribute", "read: MQTT_CS_CONNECTED, a confirmed publication is written at once"),
    PahoMember(
        "_in_packet", "attribute",
        "read: 'command' 0 means between packets (a PUBACK run may be read), 'packet' is the variable "
        "header (a CONNACK's first byte holds the session-present flag)",
    ),
    PahoMember(
        "_clean_session", "attribute",
        "written (keep_sessions): the clean-session flag of the next CONNECT, as paho's constructor sets it",
    ),
    PahoMember("_protocol", "attribute", "read: MQTTv5 takes paho's own paths (the short paths speak 3.1.1)"),
    PahoMember("_out_message_mutex", "attribute", "held while paho's own message for a PUBACK is looked up"),
    PahoMember("_out_messages", "attribute", "read: paho's own QoS 1/2 messages in flight, by message id"),
    PahoMember(
        "_last_bytes_received", "attribute",
        "written after a PUBACK run, as paho's read does (the keepalive's sign of a live broker)",
    ),
    PahoMember("_connect_timeout", "attribute", "read: the pre-connected socket's timeout, as paho's connect sets"),
    PahoMember("_ssl_context", "attribute", "read: tls_set's context, for MqttLink's handshake (ssl_context)"),
    # -- private names of paho's modules --
    PahoMember("paho.mqtt.enums._ConnectionState", "module", "MQTT_CS_CONNECTED, the value of _state compared"),
)

#: paho methods that call the overrides above: what they catch and do with the results is what
#: the overrides rely on, so their source is pinned as well (they are not touched here).
PAHO_HOOK_CALLERS: tuple[PahoMember, ...] = (
    PahoMember(
        "reconnect", "called",
        "resets _in_packet, calls _create_socket, makes the socket non-blocking, calls on_socket_open",
        "(self) -> 'MQTTErrorCode'", "3ecdf1a8299e8c8a",
    ),
    PahoMember(
        "_create_socket", "called",
        "calls _create_socket_connection, then _ssl_wrap_socket when TLS is set",
        "(self) -> 'SocketLike'", "3043436f2eb23690",
    ),
    PahoMember(
        "_packet_write", "called",
        "calls _sock_send with the rest of each packet; BlockingIOError keeps it queued (MQTT_ERR_AGAIN)",
        "(self) -> 'MQTTErrorCode'", "d097b7b51bed128d",
    ),
    PahoMember(
        "loop_read", "called",
        "calls _packet_read until MQTT_ERR_AGAIN, an error or its packet limit",
        "(self, max_packets: 'int' = 1) -> 'MQTTErrorCode'", "4fa11ca2d451dbec",
    ),
    PahoMember(
        "_packet_handle", "called",
        "hands PUBACK and PUBCOMP to _handle_pubackcomp, PUBREC to _handle_pubrec, CONNACK to _handle_connack",
        "(self) -> 'MQTTErrorCode'", "ac4c129ed409db42",
    ),
)
# fmt: on
