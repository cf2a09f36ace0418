"""The charge-point-initiated OCPP 1.6 messages the simulated charge point sends, as methods."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from tools.ocppj import JSONDict, utc_now


class ChargePointMessages:
    """Convenience wrappers over :meth:`call`, which a subclass implements."""

    async def call(self, action: str, payload: JSONDict, timeout: float = 10) -> JSONDict:  # noqa: ASYNC109
        raise NotImplementedError

    #: Full result of the last StartTransaction (idTagInfo etc.); start_transaction() returns only the id.
    last_start_transaction_result: JSONDict | None = None
    #: The BootNotification fields (an instance may set its own: a triggered BootNotification sends them too).
    boot_fields: Mapping[str, Any] = MappingProxyType(
        {"chargePointVendor": "SimVendor", "chargePointModel": "SimModel"}
    )

    async def boot(self, **overrides: Any) -> JSONDict:
        """BootNotification of ``boot_fields``; keyword overrides are merged in (None removes a field)."""
        payload: JSONDict = dict(self.boot_fields)
        payload.update(overrides)
        return await self.call("BootNotification", {k: v for k, v in payload.items() if v is not None})

    async def heartbeat(self) -> JSONDict:
        return await self.call("Heartbeat", {})

    async def status(self, connector_id: int, status: str = "Available", **extra: Any) -> JSONDict:
        """StatusNotification with errorCode NoError and a current timestamp; ``extra`` overrides fields."""
        payload: JSONDict = {
            "connectorId": connector_id,
            "errorCode": "NoError",
            "status": status,
            "timestamp": utc_now(),
        }
        payload.update(extra)
        return await self.call("StatusNotification", payload)

    async def authorize(self, id_tag: str) -> JSONDict:
        return await self.call("Authorize", {"idTag": id_tag})

    async def start_transaction(self, connector_id: int, id_tag: str, meter_start: int) -> int:
        """StartTransaction; returns the transactionId (full result in ``last_start_transaction_result``)."""
        result = await self.call(
            "StartTransaction",
            {"connectorId": connector_id, "idTag": id_tag, "meterStart": meter_start, "timestamp": utc_now()},
        )
        self.last_start_transaction_result = result
        transaction_id = result["transactionId"]
        if type(transaction_id) is not int:
            raise ValueError(f"transactionId is not an integer: {result!r}")
        self.transaction_started(connector_id, transaction_id)
        return transaction_id

    async def stop_transaction(self, transaction_id: int, meter_stop: int, **extra: Any) -> JSONDict:
        """StopTransaction; ``extra`` adds or overrides fields (reason, idTag, transactionData, timestamp)."""
        payload: JSONDict = {"transactionId": transaction_id, "meterStop": meter_stop, "timestamp": utc_now()}
        payload.update(extra)
        self.transaction_stopped(transaction_id)  # it has ended here, whatever the answer
        return await self.call("StopTransaction", payload)

    def transaction_started(self, connector_id: int, transaction_id: int) -> None:
        """Hook: :meth:`start_transaction` got ``transaction_id`` for a transaction on ``connector_id``."""

    def transaction_stopped(self, transaction_id: int) -> None:
        """Hook: :meth:`stop_transaction` is about to report the end of ``transaction_id``."""

    async def meter_values(
        self,
        connector_id: int,
        sampled: list[JSONDict],
        transaction_id: int | None = None,
        timestamp: str | None = None,
    ) -> JSONDict:
        """MeterValues with one meterValue element holding ``sampled`` as its sampledValue list."""
        payload: JSONDict = {
            "connectorId": connector_id,
            "meterValue": [{"timestamp": timestamp or utc_now(), "sampledValue": sampled}],
        }
        if transaction_id is not None:
            payload["transactionId"] = transaction_id
        return await self.call("MeterValues", payload)
