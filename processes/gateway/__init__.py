"""The OCPP gateway: the central system's websocket server, publishing to the bus."""
