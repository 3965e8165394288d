"""Real adapters (printer, scanner, Turnkey drops). Imports turnkey types only, never daemon or hw_sim."""
