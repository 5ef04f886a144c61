"""The one set of validators for identifiers and short texts that come from outside.

Every pattern is ASCII-only and used with `fullmatch`: `\\d` would accept Arabic-Indic or fullwidth
digits and `$` a trailing newline, and either turns a value into one that looks valid here but
names nothing in the database (a "stolen" report that flags no card). Each validator returns the
value (a person's name without surrounding spaces) or raises ValueError whose message states the
rule and never repeats the value: it may be someone's ID number.

Pure: no gRPC, no storage. Used by the servicer (every string field of every request), storage
(lookup keys), the dev CA (terminal ids in certificates).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

CCCD_RE: Final = re.compile(r"[0-9]{12}", re.ASCII)
BHXH_RE: Final = re.compile(r"[0-9]{10}", re.ASCII)
CARD_NUMBER_RE: Final = re.compile(r"[A-Z]{2}[1-5][0-9]{2}[0-9]{10}", re.ASCII)
FACILITY_RE: Final = re.compile(r"[0-9]{5}", re.ASCII)
# Terminal ids and terminal key ids name files (certificates, keys): no leading dot or dash.
TERMINAL_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
# challenge_id, verification_id: uuid4().hex as the gateway issues them.
OPAQUE_ID_RE: Final = re.compile(r"[0-9a-f]{32}", re.ASCII)
# The physical card's document number as in DG1 (TD1: 9 characters, longer ones continue).
DOCUMENT_NUMBER_RE: Final = re.compile(r"[A-Z0-9]{1,20}", re.ASCII)

# A payment reference from the counter's cashier or a payment service (the renewal's idempotency key).
PAYMENT_REFERENCE_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", re.ASCII)

ISO_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)

MAX_NAME_CHARS: Final = 200
MAX_NOTE_CHARS: Final = 2000
MAX_QR_CHARS: Final = 4096  # well above a QR code's capacity (2,953 bytes)


def _check(pattern: re.Pattern[str], value: str, rule: str) -> str:
    if pattern.fullmatch(value) is None:
        raise ValueError(rule)
    return value


def cccd(value: str) -> str:
    """A CCCD (citizen ID) number: exactly 12 ASCII digits."""
    return _check(CCCD_RE, value, "must be 12 digits 0-9")


def bhxh(value: str) -> str:
    """A social-insurance number (mã số BHXH): exactly 10 ASCII digits."""
    return _check(BHXH_RE, value, "must be 10 digits 0-9")


def card_number(value: str) -> str:
    """The 15-character BHYT card code: group A-Z A-Z, benefit 1-5, province 2 digits, 10 digits."""
    return _check(
        CARD_NUMBER_RE,
        value,
        "must be 15 characters: group (2 letters A-Z), benefit code 1-5, province (2 digits), 10 digits",
    )


def facility_code(value: str) -> str:
    """A facility code (mã cơ sở KCB): exactly 5 ASCII digits."""
    return _check(FACILITY_RE, value, "must be 5 digits 0-9")


def terminal_id(value: str) -> str:
    """A terminal id: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit."""
    return _check(
        TERMINAL_ID_RE, value, "must be 1-64 of A-Z, a-z, 0-9, '.', '_', '-', starting with a letter or digit"
    )


def key_id(value: str) -> str:
    """A terminal key id: the same form as a terminal id (it names a key file)."""
    return terminal_id(value)


def opaque_id(value: str) -> str:
    """A challenge or verification id as the gateway issues them: 32 lowercase hex digits."""
    return _check(OPAQUE_ID_RE, value, "must be 32 lowercase hex digits, as issued by the gateway")


challenge_id = opaque_id
verification_id = opaque_id


def document_number(value: str) -> str:
    """A card's document number: 1-20 of A-Z, 0-9."""
    return _check(DOCUMENT_NUMBER_RE, value, "must be 1-20 of A-Z, 0-9")


def payment_reference(value: str) -> str:
    """A payment reference: 1-64 of A-Z a-z 0-9 . _ : -, starting with a letter or digit."""
    return _check(
        PAYMENT_REFERENCE_RE,
        value,
        "must be 1-64 of A-Z, a-z, 0-9, '.', '_', ':', '-', starting with a letter or digit",
    )


def terms_version(value: str) -> str:
    """A consent-terms version: the same form as a terminal id."""
    return _check(TERMINAL_ID_RE, value, "must be 1-64 of A-Z, a-z, 0-9, '.', '_', '-'")


def iso_date(value: str) -> str:
    """A calendar date written yyyy-mm-dd (ASCII digits)."""
    _check(ISO_DATE_RE, value, "must be a date yyyy-mm-dd")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date yyyy-mm-dd") from None
    return value


def person_name(value: str) -> str:
    """A staff member's full name: 1-200 printable characters (no control or format characters,
    no line breaks); surrounding spaces are dropped. Returns the trimmed name."""
    trimmed = value.strip(" ")
    if not trimmed:
        raise ValueError(f"must be 1-{MAX_NAME_CHARS} characters")
    if len(trimmed) > MAX_NAME_CHARS:
        raise ValueError(f"must be at most {MAX_NAME_CHARS} characters")
    if not trimmed.isprintable():
        raise ValueError("must not contain control, format or line-break characters")
    return trimmed


def free_text(value: str, max_chars: int = MAX_NOTE_CHARS) -> str:
    """Free text for a case file: at most `max_chars`; line breaks and tabs are allowed, other
    control and format characters (NUL, escape sequences, bidirectional overrides) are not."""
    if len(value) > max_chars:
        raise ValueError(f"must be at most {max_chars} characters")
    if not value.replace("\n", "").replace("\t", "").isprintable():
        raise ValueError("must not contain control or format characters other than line breaks and tabs")
    return value


_QR_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", re.ASCII)


def qr_text(value: str) -> str:
    """Decoded QR text: 1-4096 characters, no NUL or other control characters (tab, CR and LF,
    which scanners append, are allowed; the QR parsers check each field)."""
    if not value:
        raise ValueError("required")
    if len(value) > MAX_QR_CHARS:
        raise ValueError(f"must be at most {MAX_QR_CHARS} characters")
    if _QR_CONTROL.search(value):
        raise ValueError("must not contain NUL or other control characters")
    return value


# -- contacts (remote registration) ----------------------------------------------------------------

# E.164: "+", a country code not starting with 0, at most 15 digits in all (ITU-T E.164 §6).
PHONE_E164_RE: Final = re.compile(r"\+[1-9][0-9]{7,14}", re.ASCII)
# The dot-atom form of RFC 5322 §3.2.3 for the local part (no quoted strings, no comments), and a
# domain of LDH labels (RFC 1035/5890, no IP literals) ending in an alphabetic top-level label.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_RE: Final = re.compile(
    rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>(?:{_LABEL}\.)+[A-Za-z]{{2,63}})", re.ASCII
)


def phone_e164(value: str) -> str:
    """A phone number in E.164: '+' then 8-15 ASCII digits, the first not 0; no spaces or dashes."""
    return _check(PHONE_E164_RE, value, "must be E.164: '+' then 8-15 digits 0-9, the first not 0")


def email(value: str) -> str:
    """An e-mail address: ASCII dot-atom local part (at most 64), '@', a domain of at least two
    letter/digit/hyphen labels with an alphabetic top-level label; at most 254 characters."""
    rule = "must be an ASCII address local@domain.tld (dot-atom local part, LDH domain labels)"
    if len(value) > 254:
        raise ValueError("must be at most 254 characters")
    match = EMAIL_RE.fullmatch(value)
    if match is None or len(match.group("local")) > 64:
        raise ValueError(rule)
    return value


# QĐ 130 / QĐ 4750 keys a hospital system gives for its check-in record.
VISIT_KEY_RE: Final = re.compile(r"[A-Za-z0-9._/-]{1,100}", re.ASCII)
PATIENT_CATEGORY_RE: Final = re.compile(r"[0-9][0-9.]{0,3}", re.ASCII)
VISIT_KIND_RE: Final = re.compile(r"[0-9]{2}", re.ASCII)


def visit_key(value: str) -> str:
    """MA_LK or MA_BN: 1-100 of A-Z, a-z, 0-9, '.', '_', '-', '/'."""
    return _check(VISIT_KEY_RE, value, "must be 1-100 of A-Z, a-z, 0-9, '.', '_', '-', '/'")


def patient_category(value: str) -> str:
    """MA_DOITUONG_KCB (QĐ 824 list), e.g. "1.1": 1-4 of 0-9 and '.', starting with a digit."""
    return _check(PATIENT_CATEGORY_RE, value, "must be 1-4 of 0-9 and '.', starting with a digit")


def visit_kind(value: str) -> str:
    """MA_LOAI_KCB (QĐ 824), 2 digits, e.g. "01" outpatient exam."""
    return _check(VISIT_KIND_RE, value, "must be 2 digits 0-9")
