"""The simulated charge point moved to :mod:`tools.chargepoint` (shipped for operators); re-exported here."""

from __future__ import annotations

from tools.chargepoint import *  # noqa: F403
from tools.chargepoint import __all__ as __all__
