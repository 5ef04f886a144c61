"""What callers run: the client SDK, the check-in and counter CLIs, and the card lab."""
