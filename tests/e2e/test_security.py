"""End to end, security and hostile input: each refusal (401, 404, 400, 503, 1009, rate limit,
TLS without a trusted certificate, no client certificate) happens while a legitimate charge
point is connected beside it, and that one's calls are still answered and its values still
reach BEMCom on MQTT."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from websockets.exceptions import InvalidStatus

from bench.harness import Broker, Connector, Observer, wait_until
from tests.support.certs import KeyPair, certificate_authority, client_context, self_signed, signed_by
from tests.support.chargepoint import SimulatedChargePoint
from tools.chargepoint201 import SimulatedChargingStation

pytestmark = pytest.mark.e2e

PASSWORDS = {"LEGIT": "0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF", "OTHER": "correct horse battery"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def write_htpasswd(path: Path) -> Path:
    lines = [f"{cp}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()}" for cp, pw in PASSWORDS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def running(tmp_path: Path, broker: Broker, **settings: str) -> Iterator[tuple[Connector, Observer]]:
    """The connector under supervisord with these settings, and an observer of its MQTT topics."""
    connector = Connector(tmp_path, broker.port, **settings)
    connector.start()
    try:
        observer = Observer(broker.port, connector.name)
        try:
            yield connector, observer
        finally:
            observer.close()
    finally:
        connector.stop()


def wss(connector: Connector) -> str:
    return f"wss://localhost:{connector.ocpp_port}"


class Legit:
    """The well-behaved charge point beside the hostile one: reports power, checks BEMCom gets it."""

    def __init__(self, connector: Connector, observer: Observer, cp: SimulatedChargePoint) -> None:
        self.connector, self.observer, self.cp = connector, observer, cp
        self.watts = 1000
        self.topic = "messages/1/value"
        key = f"{cp.cp_id}__1__Power.Active.Import__W"
        observer.publish("datapoint_map", {"sensor": {key: f"{connector.name}/{self.topic}"}, "actuator": {}}, 2, True)

    async def still_works(self) -> None:
        self.watts += 1000
        sample = {"value": str(self.watts / 1000), "measurand": "Power.Active.Import", "unit": "kW"}
        await self.cp.meter_values(1, [sample])
        watts = self.watts
        await asyncio.to_thread(self.observer.wait_for, self.topic, lambda p: p["value"] == watts, 20)


async def refused_status(cp: SimulatedChargePoint | SimulatedChargingStation) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await cp.connect()
    return refused.value.response.status_code


def no_secret_logged(connector: Connector) -> None:
    output = connector.output()
    for password in PASSWORDS.values():
        assert password not in output


def test_profile_1_refuses_wrong_credentials_unknown_ids_and_no_subprotocol(tmp_path: Path, broker: Broker) -> None:
    auth = str(write_htpasswd(tmp_path / "htpasswd"))
    with running(tmp_path, broker, OCPP_AUTH_FILE=auth, OCPP_ALLOWED_CHARGE_POINTS="LEGIT,OTHER") as started:
        profile_1_scenario(*started)
    connector = started[0]
    output = connector.output()
    assert "security profile 1" in output
    assert "Refused charge point 'OTHER': it sent a wrong password (HTTP 401)" in output
    assert "Refused charge point 'OTHER': it sent no HTTP Basic credentials (HTTP 401)" in output
    assert "Refused unknown charge point 'INTRUDER'" in output
    assert "Refused charge point 'OTHER': it offers no ocpp1.6 or ocpp2.0.1 subprotocol" in output
    no_secret_logged(connector)


def profile_1_scenario(connector: Connector, observer: Observer) -> None:
    async def scenario() -> None:
        async with SimulatedChargePoint(connector.url, "LEGIT", extra_headers=basic("LEGIT", PASSWORDS["LEGIT"])) as cp:
            legit = Legit(connector, observer, cp)
            await cp.boot()
            await legit.still_works()
            attempts = {
                401: [
                    SimulatedChargePoint(connector.url, "OTHER", extra_headers=basic("OTHER", "wrong password")),
                    SimulatedChargePoint(connector.url, "OTHER"),
                    SimulatedChargePoint(connector.url, "OTHER", extra_headers=basic("LEGIT", PASSWORDS["LEGIT"])),
                ],
                404: [SimulatedChargePoint(connector.url, "INTRUDER", extra_headers=basic("INTRUDER", "x"))],
                400: [
                    SimulatedChargePoint(
                        connector.url, "OTHER", subprotocols=(), extra_headers=basic("OTHER", PASSWORDS["OTHER"])
                    )
                ],
            }
            for status, intruders in attempts.items():
                for intruder in intruders:
                    assert await refused_status(intruder) == status
                    await legit.still_works()
            async with SimulatedChargePoint(connector.url, "OTHER", extra_headers=basic("OTHER", PASSWORDS["OTHER"])):
                await legit.still_works()

    asyncio.run(scenario())


LIMIT_SETTINGS = {"OCPP_MAX_FRAME_BYTES": "2048", "OCPP_MAX_CONNECTIONS": "2", "OCPP_MAX_CALLS_PER_SECOND": "10"}


def test_limits_and_hostile_frames_leave_the_others_unharmed(tmp_path: Path, broker: Broker) -> None:
    with running(tmp_path, broker, **LIMIT_SETTINGS) as (connector, observer):
        limits_scenario(connector, observer)
    output = connector.output()
    assert output.count("HOSTILE sends more than 10 calls per second") == 1
    assert "HOSTILE sent a frame that is not JSON" in output
    assert "Refused charge point 'THIRD': 2 connections open" in output
    assert "Traceback" not in output


def limits_scenario(connector: Connector, observer: Observer) -> None:
    async def scenario() -> None:
        async with (
            SimulatedChargePoint(connector.url, "LEGIT") as cp,
            SimulatedChargePoint(connector.url, "HOSTILE") as hostile,
        ):
            legit = Legit(connector, observer, cp)
            await legit.still_works()
            assert await refused_status(SimulatedChargePoint(connector.url, "THIRD")) == 503
            await legit.still_works()

            await hostile.send_raw("this is not JSON")
            await hostile.send_raw('[2,"u1","FooBar",{}]')
            assert (await hostile.next_frame())[:3] == [4, "u1", "NotImplemented"]
            await hostile.send_raw('[2,"u2","BootNotification",{"chargePointVendor":"v"}]')
            assert (await hostile.next_frame())[:3] == [4, "u2", "ProtocolError"]
            await hostile.send_raw('[2,"u3","BootNotification",{"chargePointVendor":"v","chargePointModel":"m","x":1}]')
            assert (await hostile.next_frame())[:3] == [4, "u3", "FormationViolation"]
            await hostile.send_raw('[2,"u4","DataTransfer",' + "[" * 2000)  # deep: RecursionError
            assert (await hostile.next_frame())[:3] == [4, "u4", "FormationViolation"]
            await hostile.send_raw('[3,"never-asked",{}]')
            await legit.still_works()
            await flood(hostile)
            await legit.still_works()

            await hostile.send_raw(json.dumps([2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * 4000}]))
            await asyncio.to_thread(wait_until, lambda: not hostile.connected, 10, "the oversized frame to close it")
            assert hostile.close_code == 1009
            await legit.still_works()
            async with SimulatedChargePoint(connector.url, "THIRD") as third:  # its connection was freed
                await third.heartbeat()
            # An OCPP 2.0.1 station has the same connection limit and the same rate limit.
            async with SimulatedChargingStation(connector.url, "HOSTILE_201") as station:
                assert await refused_status(SimulatedChargingStation(connector.url, "FOURTH")) == 503
                await flood(station)
                await legit.still_works()

    asyncio.run(scenario())


async def flood(hostile: SimulatedChargePoint | SimulatedChargingStation) -> None:
    """60 calls at once, without waiting for the answers: the burst of 10 is answered, then the
    charge point is slowed down (a few calls held and answered at its rate), and the excess is
    answered with GenericError; the connection stays open, and once it slows down its calls are
    answered again."""
    for n in range(60):
        await hostile.send_raw(json.dumps([2, f"f{n}", "Heartbeat", {}]))
    replies = [await hostile.next_frame() for _ in range(60)]
    assert sorted(reply[1] for reply in replies) == sorted(f"f{n}" for n in range(60))  # one reply each
    refused = [reply for reply in replies if reply[0] == 4]
    assert len(refused) >= 15 and all(reply[2] == "GenericError" for reply in refused)
    assert sum(reply[0] == 3 for reply in replies) >= 10

    async def answered() -> bool:
        try:
            await hostile.heartbeat()
        except Exception:  # GenericError while the bucket refills
            return False
        return True

    for _ in range(50):  # the bucket refills with time (10 a second): waiting for time is the point here
        if await answered():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("HOSTILE's calls were still refused 10 s after its flood")


def test_a_second_connection_with_the_same_id_replaces_the_first(tmp_path: Path, broker: Broker) -> None:
    with running(tmp_path, broker) as (connector, observer):
        replacement_scenario(connector, observer)


def replacement_scenario(connector: Connector, observer: Observer) -> None:
    observer.publish(
        "datapoint_map",
        {
            "sensor": {"DUP__connected": f"{connector.name}/messages/2/value",
                       "DUP__1__Power.Active.Import__W": f"{connector.name}/messages/1/value"},
            "actuator": {},
        },
        2,
        True,
    )  # fmt: skip

    async def scenario() -> None:
        async with SimulatedChargePoint(connector.url, "DUP") as first:
            await first.heartbeat()
            await asyncio.to_thread(observer.wait_for, "messages/2/value", lambda p: p["value"] is True)
            async with SimulatedChargePoint(connector.url, "DUP") as second:
                await asyncio.to_thread(wait_until, lambda: not first.connected, 10, "the old socket to close")
                assert first.close_code == 1000 and "replaced" in (first.close_reason or "")
                sample = {"value": "3.5", "measurand": "Power.Active.Import", "unit": "kW"}
                await second.meter_values(1, [sample])
                await asyncio.to_thread(observer.wait_for, "messages/1/value", lambda p: p["value"] == 3500)
                # Events are delivered in order: a disconnect of the replaced socket would be out by now.
                assert all(message.payload["value"] is True for message in observer.on("messages/2/value"))

    asyncio.run(scenario())


def tls_settings(pair: KeyPair, **more: str) -> dict[str, str]:
    return {"OCPP_TLS_CERT_FILE": str(pair.cert), "OCPP_TLS_KEY_FILE": str(pair.key), **more}


def test_profile_2_tls_with_basic_auth(tmp_path: Path, broker: Broker) -> None:
    server = self_signed(tmp_path)
    settings = tls_settings(server, OCPP_AUTH_FILE=str(write_htpasswd(tmp_path / "htpasswd")))
    trusted = client_context(server.cert)

    async def scenario(connector: Connector, observer: Observer) -> None:
        creds = basic("LEGIT", PASSWORDS["LEGIT"])
        async with SimulatedChargePoint(wss(connector), "LEGIT", ssl=trusted, extra_headers=creds) as cp:
            legit = Legit(connector, observer, cp)
            await legit.still_works()
            other = basic("OTHER", "wrong")
            assert (
                await refused_status(SimulatedChargePoint(wss(connector), "OTHER", ssl=trusted, extra_headers=other))
                == 401
            )
            await legit.still_works()
            with pytest.raises(ssl.SSLCertVerificationError):  # a charge point that does not trust us
                await SimulatedChargePoint(wss(connector), "OTHER", ssl=ssl.create_default_context()).connect()
            await legit.still_works()
            with pytest.raises(Exception):  # noqa: B017 - plain ws:// to a TLS port: any handshake failure
                await SimulatedChargePoint(f"ws://127.0.0.1:{connector.ocpp_port}", "OTHER", open_timeout=5).connect()
            await legit.still_works()
            # An OCPP 2.0.1 station is admitted exactly the same way.
            wrong = SimulatedChargingStation(wss(connector), "OTHER", ssl=trusted, extra_headers=other)
            assert await refused_status(wrong) == 401
            right = basic("OTHER", PASSWORDS["OTHER"])
            async with SimulatedChargingStation(wss(connector), "OTHER", ssl=trusted, extra_headers=right) as station:
                assert station.subprotocol == "ocpp2.0.1"
                assert (await station.boot())["status"] == "Accepted"
            await legit.still_works()

    with running(tmp_path, broker, **settings) as (connector, observer):
        asyncio.run(scenario(connector, observer))
    assert "Charge points connect to wss://" in connector.output() and "security profile 2" in connector.output()
    no_secret_logged(connector)


def test_profile_3_requires_a_client_certificate_signed_by_the_ca(tmp_path: Path, broker: Broker) -> None:
    ca, rogue_ca = certificate_authority(tmp_path, "Site CA"), certificate_authority(tmp_path, "Rogue CA")
    server = signed_by(ca, tmp_path, "server")
    settings = tls_settings(server, OCPP_TLS_CLIENT_CA_FILE=str(ca.cert))

    async def refused(connector: Connector, client: KeyPair | None) -> None:
        cp = SimulatedChargePoint(wss(connector), "OTHER", ssl=client_context(ca.cert, client), open_timeout=5)
        with pytest.raises(Exception):  # noqa: B017 - TLS alert: reported at the handshake or the first read
            await cp.connect()
            await cp.heartbeat()
        await cp.close()

    async def scenario(connector: Connector, observer: Observer) -> None:
        legit_pair = signed_by(ca, tmp_path, "LEGIT")
        async with SimulatedChargePoint(wss(connector), "LEGIT", ssl=client_context(ca.cert, legit_pair)) as cp:
            legit = Legit(connector, observer, cp)
            await legit.still_works()
            await refused(connector, None)
            await legit.still_works()
            await refused(connector, signed_by(rogue_ca, tmp_path, "ROGUE"))
            await legit.still_works()
            # An OCPP 2.0.1 station with its own certificate (CN = its id) is admitted; with another's, not.
            other_pair = signed_by(ca, tmp_path, "OTHER_201")
            async with SimulatedChargingStation(
                wss(connector), "OTHER_201", ssl=client_context(ca.cert, other_pair)
            ) as station:
                assert (await station.boot())["status"] == "Accepted"
            impostor = SimulatedChargingStation(wss(connector), "LEGIT_201", ssl=client_context(ca.cert, other_pair))
            assert await refused_status(impostor) == 403
            await legit.still_works()

    with running(tmp_path, broker, **settings) as (connector, observer):
        asyncio.run(scenario(connector, observer))
    assert "security profile 3" in connector.output()
