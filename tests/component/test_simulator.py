"""Self-test of tests.support.chargepoint against a tiny raw-JSON central system on a real websocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.support.chargepoint import (
    NO_ANSWER,
    AnswerSpec,
    BootTrigger,
    CallErrorReceived,
    SimulatedChargePoint,
    factory_configuration,
)
from tools.station import ChargerBehaviour, SessionPlan, Station

Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def central_system(handler: Handler) -> AsyncIterator[tuple[Server, str]]:
    """A local websocket server on a free port; yields it and the URL base ``ws://127.0.0.1:PORT/ocpp``."""
    async with serve(handler, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield server, f"ws://127.0.0.1:{port}/ocpp"


def reply_for(action: str) -> dict[str, Any]:
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": "2024-01-01T00:00:00.000Z", "interval": 300}
    if action == "StartTransaction":
        return {"transactionId": 42, "idTagInfo": {"status": "Accepted"}}
    if action == "Heartbeat":
        return {"currentTime": "2024-01-01T00:00:00.000Z"}
    return {}


async def recv_json(ws: ServerConnection, wait: float = 5) -> Any:
    async with asyncio.timeout(wait):
        return json.loads(await ws.recv())


def test_call_returns_callresult_payload() -> None:
    seen: list[Any] = []
    sampled = [{"value": "1234", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]

    async def cs(ws: ServerConnection) -> None:
        seen.append(ws.subprotocol)
        async for message in ws:
            frame = json.loads(message)
            seen.append(frame)
            await ws.send(json.dumps([3, frame[1], reply_for(frame[2])]))

    async def main() -> None:
        async with central_system(cs) as (_, url), SimulatedChargePoint(url, "CP1") as cp:
            assert cp.connected
            assert cp.subprotocol == "ocpp1.6"
            assert await cp.boot() == reply_for("BootNotification")
            assert await cp.start_transaction(1, "TAG1", meter_start=100) == 42
            assert cp.last_start_transaction_result == reply_for("StartTransaction")
            assert await cp.meter_values(1, sampled, transaction_id=42) == {}
            assert await cp.call("DataTransfer", {"vendorId": "x"}) == {}
        assert not cp.connected

    asyncio.run(main())
    assert seen[0] == "ocpp1.6"
    boot, start, meter, data = seen[1:]
    assert boot[0] == 2 and isinstance(boot[1], str) and len(boot[1]) <= 36
    assert boot[2:] == ["BootNotification", {"chargePointVendor": "SimVendor", "chargePointModel": "SimModel"}]
    assert start[2] == "StartTransaction"
    assert start[3]["connectorId"] == 1 and start[3]["idTag"] == "TAG1" and start[3]["meterStart"] == 100
    assert start[3]["timestamp"].endswith("Z")
    assert meter[3]["transactionId"] == 42 and meter[3]["meterValue"][0]["sampledValue"] == sampled
    assert data[2:] == ["DataTransfer", {"vendorId": "x"}]
    assert len({boot[1], start[1], meter[1], data[1]}) == 4  # unique message ids


def test_callerror_raises_call_error_received() -> None:
    async def cs(ws: ServerConnection) -> None:
        async for message in ws:
            frame = json.loads(message)
            await ws.send(json.dumps([4, frame[1], "FormationViolation", "bad payload", {"field": "idTag"}]))

    async def main() -> None:
        async with central_system(cs) as (_, url), SimulatedChargePoint(url, "CP1") as cp:
            with pytest.raises(CallErrorReceived) as info:
                await cp.authorize("TAG")
            assert info.value.code == "FormationViolation"
            assert info.value.description == "bad payload"
            assert info.value.details == {"field": "idTag"}
            # the connection stays usable after a CALLERROR
            with pytest.raises(CallErrorReceived):
                await cp.heartbeat()

    asyncio.run(main())


def test_cs_calls_are_recorded_and_answered() -> None:
    replies: dict[str, Any] = {}
    done: list[asyncio.Event] = []

    async def cs(ws: ServerConnection) -> None:
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("c1", "GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]}),
            ("c2", "GetConfiguration", {}),
            ("c3", "RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1}),
            ("c4", "UnlockConnector", {"connectorId": 1}),
            ("c5", "GetLocalListVersion", {}),
            ("c6", "FooBar", {}),
            ("c7", "DataTransfer", {"vendorId": "v"}),
            ("c8", "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
            ("c9", "Reset", {"type": "Soft"}),
            ("c10", "TriggerMessage", {"requestedMessage": "Heartbeat"}),
        ]
        for uid, action, payload in calls:
            await ws.send(json.dumps([2, uid, action, payload]))
            reply = await recv_json(ws)
            replies[reply[1]] = reply
        done[0].set()
        await ws.wait_closed()

    async def async_answer(payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.01)  # an answer that takes a while: the behaviour under test
        return {"status": "Rejected"}

    def failing_answer(payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    async def main() -> None:
        done.append(asyncio.Event())
        answers: dict[str, AnswerSpec] = {
            "DataTransfer": {"status": "UnknownVendorId"},
            "ChangeAvailability": lambda payload: {"status": "Scheduled"},
            "Reset": async_answer,
            "TriggerMessage": failing_answer,
        }
        async with central_system(cs) as (_, url), SimulatedChargePoint(url, "CP1", answers=answers) as cp:
            [first, second] = await cp.wait_for_call("GetConfiguration", count=2)
            assert first == {"key": ["HeartbeatInterval", "NoSuchKey"]} and second == {}
            async with asyncio.timeout(5):
                await done[0].wait()
            assert [action for action, _ in cp.received_calls] == [
                "GetConfiguration",
                "GetConfiguration",
                "RemoteStartTransaction",
                "UnlockConnector",
                "GetLocalListVersion",
                "FooBar",
                "DataTransfer",
                "ChangeAvailability",
                "Reset",
                "TriggerMessage",
            ]
            assert cp.received_calls[2] == ("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1})
            with pytest.raises(TimeoutError):
                await cp.wait_for_call("Reset", timeout=0.05, count=2)

    asyncio.run(main())
    assert replies["c1"] == [
        3,
        "c1",
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["NoSuchKey"],
        },
    ]
    assert [entry["key"] for entry in replies["c2"][2]["configurationKey"]] == [
        "ChargingScheduleAllowedChargingRateUnit",
        "HeartbeatInterval",
    ]
    assert replies["c2"][2]["unknownKey"] == []
    assert replies["c3"] == [3, "c3", {"status": "Accepted"}]
    assert replies["c4"] == [3, "c4", {"status": "Unlocked"}]
    assert replies["c5"] == [3, "c5", {"listVersion": 0}]
    assert replies["c6"][0] == 4 and replies["c6"][2] == "NotImplemented" and replies["c6"][4] == {}
    assert replies["c7"] == [3, "c7", {"status": "UnknownVendorId"}]
    assert replies["c8"] == [3, "c8", {"status": "Scheduled"}]
    assert replies["c9"] == [3, "c9", {"status": "Rejected"}]
    assert replies["c10"] == [4, "c10", "InternalError", "boom", {}]


def test_no_answer_records_without_answering() -> None:
    outcome: list[Any] = []
    finished: list[asyncio.Event] = []

    async def cs(ws: ServerConnection) -> None:
        await ws.send(json.dumps([2, "r1", "Reset", {"type": "Hard"}]))
        await ws.send(json.dumps([2, "c1", "ClearCache", {}]))
        outcome.append(await recv_json(ws))  # must be the ClearCache reply: Reset is never answered
        try:
            outcome.append(await recv_json(ws, wait=0.3))
        except TimeoutError:
            outcome.append("silence")
        finished[0].set()
        await ws.wait_closed()

    async def main() -> None:
        finished.append(asyncio.Event())
        async with (
            central_system(cs) as (_, url),
            SimulatedChargePoint(url, "CP1", answers={"Reset": NO_ANSWER}) as cp,
        ):
            assert await cp.wait_for_call("Reset") == [{"type": "Hard"}]
            await cp.wait_for_call("ClearCache")
            async with asyncio.timeout(5):
                await finished[0].wait()

    asyncio.run(main())
    assert outcome == [[3, "c1", {"status": "Accepted"}], "silence"]


@pytest.mark.parametrize("how", ["server_close", "abort"])
def test_closing_connection_fails_pending_call_promptly(how: str) -> None:
    async def cs(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):  # the abort case ends without a close frame
            async for _ in ws:
                got_call[0].set()  # never answer

    got_call: list[asyncio.Event] = []

    async def main() -> None:
        got_call.append(asyncio.Event())
        async with central_system(cs) as (server, url), SimulatedChargePoint(url, "CP1") as cp:
            pending = asyncio.create_task(cp.heartbeat())
            waiter = asyncio.create_task(cp.wait_for_call("Reset", timeout=10))
            async with asyncio.timeout(5):
                await got_call[0].wait()
            started = time.monotonic()
            if how == "server_close":
                server.close()
            else:
                [connection] = server.connections
                assert connection.transport is not None
                connection.transport.abort()
            with pytest.raises(ConnectionError):
                await pending
            with pytest.raises(ConnectionError):
                await waiter
            assert time.monotonic() - started < 2
            assert not cp.connected
            if how == "server_close":
                assert cp.close_code == 1001
            with pytest.raises(ConnectionError):
                await cp.heartbeat()
            with pytest.raises(ConnectionError):
                await cp.next_frame(timeout=1)
            with pytest.raises(ConnectionError):
                await cp.send_raw("[]")

    asyncio.run(main())


def test_cp_id_is_percent_encoded_in_path() -> None:
    paths: list[str] = []

    async def cs(ws: ServerConnection) -> None:
        assert ws.request is not None
        paths.append(ws.request.path)

    async def main() -> None:
        async with central_system(cs) as (_, url):
            for cp_id, base in (("RDAM 123", url), ("a/b?c", url + "/")):
                cp = SimulatedChargePoint(base, cp_id)
                await cp.connect()
                await cp.close()

    asyncio.run(main())
    assert paths == ["/ocpp/RDAM%20123", "/ocpp/a%2Fb%3Fc"]


def test_odd_frames_do_not_kill_reader_and_reach_next_frame() -> None:
    async def cs(ws: ServerConnection) -> None:
        await ws.send("garbage")
        await ws.send('{"not": "a list"}')
        await ws.send(json.dumps([3, "nobody-asked", {}]))
        await ws.send(json.dumps([2, "broken-call"]))
        await ws.send(b"\xff binary")
        async for message in ws:
            try:
                frame = json.loads(message)
            except ValueError:
                await ws.send(json.dumps([4, "", "FormationViolation", "not JSON", {}]))
                continue
            await ws.send(json.dumps([3, frame[1], reply_for(frame[2])]))

    async def main() -> None:
        async with central_system(cs) as (_, url), SimulatedChargePoint(url, "CP1") as cp:
            assert await cp.next_frame() == "garbage"
            assert await cp.next_frame() == '{"not": "a list"}'
            assert await cp.next_frame() == [3, "nobody-asked", {}]
            assert await cp.next_frame() == [2, "broken-call"]
            assert isinstance(await cp.next_frame(), str)
            await cp.send_raw("{this is not json")
            assert await cp.next_frame() == [4, "", "FormationViolation", "not JSON", {}]
            assert await cp.heartbeat() == reply_for("Heartbeat")
            assert cp.connected and cp.received_calls == []
            with pytest.raises(TimeoutError):
                await cp.next_frame(timeout=0.05)

    asyncio.run(main())


def test_timeout_one_call_at_a_time_and_late_reply() -> None:
    overlaps: list[str] = []
    gave_up = asyncio.Event()  # set once the charge point's first call has timed out

    async def cs(ws: ServerConnection) -> None:
        first = True
        while True:
            try:
                frame = await recv_json(ws, wait=30)
            except ConnectionClosed:
                return
            if first:  # answered only after the charge point has given up
                first = False
                await asyncio.wait_for(gave_up.wait(), 10)
            else:  # nothing else may arrive while this CALL is unanswered
                with contextlib.suppress(TimeoutError):
                    overlaps.append(json.dumps(await recv_json(ws, wait=0.1)))
            await ws.send(json.dumps([3, frame[1], reply_for(frame[2])]))

    async def main() -> None:
        async with central_system(cs) as (_, url), SimulatedChargePoint(url, "CP1") as cp:
            with pytest.raises(TimeoutError):
                await cp.call("Heartbeat", {}, timeout=0.1)
            gave_up.set()
            results = await asyncio.gather(cp.heartbeat(), cp.boot(), cp.authorize("T"))
            assert list(results) == [reply_for("Heartbeat"), reply_for("BootNotification"), {}]
            assert len(cp.late_replies) == 1 and cp.late_replies[0][2] == reply_for("Heartbeat")
            with pytest.raises(TimeoutError):
                await cp.next_frame(timeout=0.05)  # the late reply is not handed out as a frame

    asyncio.run(main())
    assert overlaps == []


# --------------------------------------------------------------------------- configuration, boots

WANTED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"


class Recorder:
    """A central system for one connection: answers the charge point's CALLs, sends its own, keeps every frame."""

    def __init__(self) -> None:
        self.frames: list[list[Any]] = []  # every frame the charge point sent, in order
        self.ws: ServerConnection | None = None
        self.connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._replies: dict[str, asyncio.Future[list[Any]]] = {}
        self._sent = 0

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        return [(frame[2], frame[3]) for frame in self.frames if frame[0] == 2]

    @staticmethod
    def reply(action: str) -> dict[str, Any]:
        if action in ("Authorize", "StartTransaction"):
            return {**reply_for(action), "idTagInfo": {"status": "Accepted"}}
        return reply_for(action)

    async def handler(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.connected.set()
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                frame = json.loads(message)
                self.frames.append(frame)
                if frame[0] == 2:
                    await ws.send(json.dumps([3, frame[1], self.reply(frame[2])]))
                elif frame[1] in self._replies:
                    self._replies.pop(frame[1]).set_result(frame)
                self._changed.set()
                self._changed = asyncio.Event()

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """Send a CALL; the charge point's reply frame."""
        async with asyncio.timeout(5):
            await self.connected.wait()
        assert self.ws is not None
        self._sent += 1
        uid = f"cs{self._sent}"
        reply: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._replies[uid] = reply
        await self.ws.send(json.dumps([2, uid, action, payload]))
        async with asyncio.timeout(5):
            return await reply

    async def status_of(self, action: str, payload: dict[str, Any]) -> Any:
        reply = await self.call(action, payload)
        assert reply[0] == 3, reply
        return reply[2].get("status")

    async def wait_for(self, action: str, wait: float = 10, count: int = 1) -> list[dict[str, Any]]:
        """The first ``count`` payloads of ``action`` the charge point sent, once they have arrived."""
        found: list[dict[str, Any]] = []

        def enough() -> bool:
            found[:] = [payload for name, payload in self.calls if name == action]
            return len(found) >= count

        await self.wait_until(enough, wait)
        return found[:count]

    async def wait_until(self, condition: Callable[[], bool], wait: float = 10) -> None:
        """Until ``condition()`` holds, checked after each frame from the charge point."""
        async with asyncio.timeout(wait):
            while not condition():
                await self._changed.wait()


def test_configuration_over_the_wire_refusals_reboot_required_and_reset() -> None:
    recorder = Recorder()
    store = factory_configuration(2, refuse={"ClockAlignedDataInterval"}, reboot_required={"MeterValueSampleInterval"})

    async def main() -> None:
        async with (
            central_system(recorder.handler) as (_, url),
            SimulatedChargePoint(url, "CP_CONF", configuration=store) as cp,
        ):
            every = await recorder.call("GetConfiguration", {})
            assert every[2] == {"configurationKey": store.entries(), "unknownKey": []}
            assert {"key": "NumberOfConnectors", "readonly": True, "value": "2"} in every[2]["configurationKey"]
            change = "ChangeConfiguration"
            assert await recorder.status_of(change, {"key": "MeterValuesSampledData", "value": WANTED}) == "Accepted"
            assert await recorder.status_of(change, {"key": "MeterValueSampleInterval", "value": "15"}) == (
                "RebootRequired"
            )
            assert await recorder.status_of(change, {"key": "ClockAlignedDataInterval", "value": "900"}) == "Rejected"
            assert await recorder.status_of(change, {"key": "NumberOfConnectors", "value": "3"}) == "Rejected"
            assert await recorder.status_of(change, {"key": "FreeVend", "value": "true"}) == "NotSupported"
            bad = await recorder.call(change, {"key": "HeartbeatInterval", "value": 60})
            assert bad[0] == 4 and bad[2] == "TypeConstraintViolation"
            asked = await recorder.call(
                "GetConfiguration", {"key": ["MeterValueSampleInterval", "MeterValuesSampledData"]}
            )
            assert asked[2]["configurationKey"] == [
                {"key": "MeterValueSampleInterval", "readonly": False, "value": "15"},  # reported at once
                {"key": "MeterValuesSampledData", "readonly": False, "value": WANTED},
            ]
            assert cp.configuration.effective("MeterValueSampleInterval") == "60"  # in force after a reboot
            assert await recorder.status_of("Reset", {"type": "Soft"}) == "Accepted"
            assert cp.configuration.effective("MeterValueSampleInterval") == "15" and store.pending == {}
            assert [action for action, _ in cp.received_calls].count(change) == 6

    asyncio.run(main())
    assert store.change_requests == {
        "MeterValuesSampledData": 1,
        "MeterValueSampleInterval": 1,
        "ClockAlignedDataInterval": 1,
        "NumberOfConnectors": 1,
        "FreeVend": 1,
    }


def test_a_charge_point_that_never_boots_boots_when_asked_which_is_no_reboot() -> None:
    recorder = Recorder()
    store = factory_configuration(reboot_required={"HeartbeatInterval"})
    fields = {"chargePointVendor": "ACME", "chargePointModel": "Wallbox 9"}

    async def main() -> None:
        async with (
            central_system(recorder.handler) as (_, url),
            SimulatedChargePoint(url, "CP_SHY", configuration=store, boot_fields=fields) as cp,
        ):
            change = {"key": "HeartbeatInterval", "value": "60"}
            assert await recorder.status_of("ChangeConfiguration", change) == "RebootRequired"
            assert (recorder.calls, cp.booted) == ([], False)  # connected, and no BootNotification of its own
            trigger = await recorder.call("TriggerMessage", {"requestedMessage": "BootNotification"})
            assert trigger[2] == {"status": "Accepted"}
            [boot] = await recorder.wait_for("BootNotification")
            assert boot == fields
            # The BootNotification follows the answer to the TriggerMessage.
            assert recorder.frames.index(trigger) < next(i for i, f in enumerate(recorder.frames) if f[0] == 2)
            assert await cp.wait_until_booted() == reply_for("BootNotification")
            assert cp.booted and cp.last_boot_result == reply_for("BootNotification")
            assert store.pending == {"HeartbeatInterval": "60"}  # a triggered BootNotification is no reboot
            again = await recorder.status_of("TriggerMessage", {"requestedMessage": "BootNotification"})
            assert again == "Rejected"  # once booted (the errata sheet's recommendation)
            await cp.boot()  # booting by itself is a reboot
            assert store.pending == {} and store.effective("HeartbeatInterval") == "60"
            assert [name for name, _ in recorder.calls] == ["BootNotification", "BootNotification"]

    asyncio.run(main())


@pytest.mark.parametrize(
    ("trigger", "status"), [("reject", "Rejected"), ("ignore", "Accepted"), ("not-implemented", "NotImplemented")]
)
def test_a_charge_point_that_never_boots_at_all(trigger: str, status: str) -> None:
    recorder = Recorder()

    async def main() -> None:
        async with (
            central_system(recorder.handler) as (_, url),
            SimulatedChargePoint(url, "CP_NEVER", boot_trigger=trigger) as cp,
        ):
            assert await recorder.status_of("TriggerMessage", {"requestedMessage": "BootNotification"}) == status
            with pytest.raises(TimeoutError):
                await recorder.wait_for("BootNotification", wait=0.3)  # and none follows
            assert cp.connected and not cp.booted
            with pytest.raises(TimeoutError, match=r"CP_NEVER: not booted within 0\.05 s"):
                await cp.wait_until_booted(timeout=0.05)
            await cp.close()
            with pytest.raises(ConnectionError):
                await cp.wait_until_booted()

    asyncio.run(main())


def test_a_station_with_factory_settings_reports_what_its_configuration_names() -> None:
    recorder = Recorder()
    stop = asyncio.Event()
    plan = SessionPlan(sessions=0, interval=0.05, samples=100_000, pause=0.01)

    def measurands(payload: dict[str, Any]) -> set[str]:
        return {value["measurand"] for value in payload["meterValue"][0]["sampledValue"]}

    async def main() -> None:
        async with central_system(recorder.handler) as (_, url):
            station = Station(url, "CP_FACTORY", 1, plan, stop, None, ChargerBehaviour(factory_settings=True))
            running = asyncio.create_task(station.run())
            try:
                [first] = await recorder.wait_for("MeterValues")
                assert measurands(first) == {"Energy.Active.Import.Register"}  # every second (1 s: the factory's)
                change = {"key": "MeterValuesSampledData", "value": WANTED}
                assert await recorder.status_of("ChangeConfiguration", change) == "Accepted"
                seen = len(recorder.calls)

                def reported() -> bool:
                    return any(
                        name == "MeterValues" and measurands(payload) == set(WANTED.split(","))
                        for name, payload in recorder.calls[seen:]
                    )

                await recorder.wait_until(reported)
            finally:
                stop.set()
                async with asyncio.timeout(10):
                    await running
        [boot] = await recorder.wait_for("BootNotification")
        assert boot["chargePointModel"] == "Simulator" and boot["chargePointSerialNumber"] == "CP_FACTORY"
        [stopped] = await recorder.wait_for("StopTransaction")
        assert stopped["reason"] == "Local"

    asyncio.run(main())


def test_a_station_that_never_boots_connects_and_charges_and_boots_when_asked() -> None:
    recorder = Recorder()
    stop = asyncio.Event()
    plan = SessionPlan(sessions=0, interval=0.05, samples=100_000, pause=0.01)
    behaviour = ChargerBehaviour(never_boot=True, boot_trigger=BootTrigger.BOOT)

    async def main() -> None:
        async with central_system(recorder.handler) as (_, url):
            station = Station(url, "CP_NOBOOT", 1, plan, stop, None, behaviour)
            station.configuration.set("HeartbeatInterval", "120")
            running = asyncio.create_task(station.run())
            try:
                await recorder.wait_for("MeterValues")  # charging without having booted
                assert "BootNotification" not in [name for name, _ in recorder.calls]
                assert (station.state, station.cp.booted) == ("connected", False)
                assert station.heartbeat_interval() == 120  # HeartbeatInterval until a BootNotification is answered
                trigger = {"requestedMessage": "BootNotification"}
                assert await recorder.status_of("TriggerMessage", trigger) == "Accepted"
                [boot] = await recorder.wait_for("BootNotification")
                assert boot["chargePointVendor"] == "BEMCom" and boot["chargePointModel"] == "Simulator"
                await station.cp.wait_until_booted()
                assert station.heartbeat_interval() == 300  # the answer's interval
            finally:
                stop.set()
                async with asyncio.timeout(10):
                    await running

    asyncio.run(main())
