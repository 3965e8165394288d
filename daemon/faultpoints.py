"""Fault points for crash tests (``EINVD_FAULTPOINT=name:n``); see ``drivers.faultpoints``, where they live so that
the drop drivers can reach them without importing the daemon."""

from drivers.faultpoints import ARMED, VARIABLE, hit, parse

__all__ = ["ARMED", "VARIABLE", "hit", "parse"]
