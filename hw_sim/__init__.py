"""Simulators that speak the devices' bytes, so the production drivers run on top of them."""
