"""Telephone numbers: one canonical form for every number the PBX or a person types.

Two kinds of number exist here:

- **outside numbers**, in E.164 (ITU-T E.164 §6: ``+``, country code, national number,
  at most 15 digits): ``03-1234-5678`` → ``+81312345678`` for a national number with the
  trunk prefix 0; ``+81 3 1234 5678``, ``010 1 202 555 0100`` (Japan's international
  prefix) and ``00 …`` are international;
- **internal extensions**: up to :data:`MAX_EXTENSION_DIGITS` digits, kept as typed
  (``0451`` stays ``0451``: the city reuses PC asset numbers, and leading zeros matter).

Full-width digits, spaces, hyphens, dots and parentheses are ignored; ``sip:2101@pbx``,
``client:2101`` and ``tel:+81…`` URIs are reduced to their user part. Anonymous callers
(``anonymous``, ``非通知``, an empty string) have no number (None).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

MAX_EXTENSION_DIGITS = 8
_SEPARATORS = re.compile(r"[\s\-‐‑–—ー－.()（）]")
_ANONYMOUS = {"", "anonymous", "unknown", "restricted", "private", "unavailable",
              "非通知", "通知不可能", "公衆電話"}
_URI = re.compile(r"^(?:sip|sips|client|tel):([^@;]*)", re.IGNORECASE)


class InvalidNumber(ValueError):
    """Not a telephone number or an extension."""


@dataclass(frozen=True)
class Number:
    """A normalised number: ``value`` is E.164 (``+81…``) or extension digits."""

    value: str

    @property
    def is_extension(self) -> bool:
        return not self.value.startswith("+")

    def tel_uri(self) -> str:
        """RFC 3966 ``tel:`` URI for a one-tap callback (an extension is a local number
        in the PBX's context)."""
        return f"tel:{self.value}"

    def display(self, country_code: str = "81") -> str:
        """How staff read it, grouped as printed on a business card: national form for
        numbers of our country (``03-1234-5678``, ``090-1234-5678``, ``0120-123-456``,
        ``0570-064-556``), international form otherwise (``+1 202-555-0100``),
        extensions as they are (``0451``). Where the digits go depends on the area code
        (03 / 0466 / 0120…), so the grouping is Google's libphonenumber metadata
        (``phonenumbers``), not a rule of ours; a number it does not know keeps the plain
        digits (``0312345678``) rather than a wrong grouping."""
        if self.is_extension:
            return self.value
        national = self.value.startswith(f"+{country_code}")
        try:
            parsed = phonenumbers.parse(self.value)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL
                                              if national else
                                              phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        if national:
            return "0" + self.value[1 + len(country_code):]
        return self.value


def normalise(raw: str | None, *, country_code: str = "81") -> Number | None:
    """The canonical :class:`Number`, None for an anonymous caller; raises
    :class:`InvalidNumber` for anything else."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    if text.lower() in _ANONYMOUS:
        return None
    uri = _URI.match(text)
    if uri:
        text = uri.group(1)
    text = _SEPARATORS.sub("", text)
    if not text:
        return None
    if text.startswith("+"):
        digits = text[1:]
        international = True
    elif text.startswith("010") and len(text) > 11:
        digits, international = text[3:], True   # Japan's international call prefix
    elif text.startswith("00") and len(text) > 10:
        digits, international = text[2:], True
    else:
        digits, international = text, False
    if not digits.isdigit() or not digits.isascii():
        raise InvalidNumber(f"{raw!r} is not a telephone number")
    if international:
        if not 7 <= len(digits) <= 15 or digits.startswith("0"):
            raise InvalidNumber(f"{raw!r} is not a valid international number")
        return Number("+" + digits)
    if len(digits) <= MAX_EXTENSION_DIGITS:
        return Number(digits)
    if digits.startswith("0") and 10 <= len(digits) <= 11:
        # National number: drop the trunk prefix 0 (ITU-T E.164 national significant number).
        return Number(f"+{country_code}{digits[1:]}")
    raise InvalidNumber(f"{raw!r} is neither an extension (at most {MAX_EXTENSION_DIGITS} "
                        "digits) nor a national number (0 and 9 to 10 more digits)")
