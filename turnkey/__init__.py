"""einvd's pure core: what the Ministry of Finance specifies, with no I/O.

Nothing in this package touches files, sockets, SQLite, the environment, the clock, randomness or threads:
time and randomness come in as arguments.
"""
