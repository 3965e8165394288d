"""ESC/POS proof printing: pure encoding and status parsing, and the device over a byte transport."""
