"""Barcode scanners: framing bytes into scans, serial (pyserial URL) and USB HID (kernel input events) readers."""
