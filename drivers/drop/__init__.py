"""Drops: put a finished MIG file into Turnkey's SRC folder atomically (local directory or SFTP)."""
