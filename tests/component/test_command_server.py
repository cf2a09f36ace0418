"""The gateway's command server over real ZeroMQ sockets (ipc), with the bus's command client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import zmq.asyncio

from common.bus import ErrorCode, Request
from common.command_client import CommandClient
from processes.gateway.command_server import CommandServer


def test_a_reply_that_cannot_be_encoded_is_answered_as_an_error(tmp_path: Path) -> None:
    """A charge point's answer can hold a lone surrogate (msgpack has no encoding for it): the
    requester gets an InternalError reply at once instead of waiting for its timeout."""

    async def main() -> None:
        context = zmq.asyncio.Context()
        endpoint = f"ipc://{tmp_path}/commands.ipc"

        async def unencodable(request: Request) -> dict[str, Any]:
            return {"payload": {"idTag": "\ud800"}}

        async def fine(request: Request) -> dict[str, Any]:
            return {"status": "Accepted"}

        server = CommandServer(context, endpoint, {"unencodable": unencodable, "fine": fine})
        serving = asyncio.create_task(server.serve())
        client = CommandClient(context, endpoint, 5.0)
        try:
            for _ in range(100):  # until the client's connection is up
                good = await client.request("fine", timeout=3.0)
                if good.ok:
                    break
                await asyncio.sleep(0.05)
            bad = await client.request("unencodable", timeout=3.0)
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await client.close()
            context.destroy(linger=0)
        assert (good.ok, good.result) == (True, {"status": "Accepted"})
        assert (bad.ok, bad.error) == (False, ErrorCode.INTERNAL_ERROR)
        assert "cannot be encoded" in bad.reason

    asyncio.run(main())
