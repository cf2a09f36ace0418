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

from tests.support.chargepoint import NO_ANSWER, AnswerSpec, CallErrorReceived, SimulatedChargePoint

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
