"""Pure decisions of the shell: plain data in, plain data out; no SQL, no I/O, no clock."""
