"""What the connector's processes share: settings, the bus contract, logging."""

__version__ = "0.9.0"
