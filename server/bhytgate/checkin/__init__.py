"""The QĐ 4750 check-in record of an accepted check-in, and the verified check-ins behind it.

`record` builds the XML a hospital system sends (pure); `keys` the keyed pseudonyms under which
verified check-ins are stored and matched (no CCCD or card number in clear); `service` the hook the
recorder calls once per acceptance and the by-id lookup.
"""

from bhytgate.checkin.record import CheckinConfig, CheckinDetails, CheckinRecord

__all__ = ["CheckinConfig", "CheckinDetails", "CheckinRecord"]
