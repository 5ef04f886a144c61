"""Instant remote registration from the holder's phone: the registration record (CCCD, BHXH number,
contact), platform integrity verdicts, attempt limits and the flow. See `service.py`."""
