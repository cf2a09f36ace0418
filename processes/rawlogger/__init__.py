"""The raw logger: every raw OCPP frame, both directions, to BEMCom's raw message store."""
