"""Fake values for the PII generator: one persona per sample, in many locales and formats.

Every value that counts as personal data comes with its entity label; the "neutral" values
(order numbers, versions, prices, dates that are not birth dates, ...) are the hard negatives
the head must learn to leave alone. Only Faker and the standard library are used, so the data
is reproducible from a seed.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from faker import Faker

# The entity types of the PII head (BIO tags are built from these): the package's own list.
from sirp.guards.pii import ENTITIES

__all__ = ["ENTITIES", "LOCALES", "Persona", "ValueMaker"]


#: Locales with their weight; English-speaking ones dominate real traffic to an English model.
LOCALES = {
    "en_US": 6,
    "en_GB": 3,
    "en_CA": 1,
    "en_AU": 1,
    "en_IN": 1,
    "de_DE": 2,
    "de_AT": 1,
    "de_CH": 1,
    "fr_FR": 2,
    "es_ES": 1,
    "it_IT": 1,
    "nl_NL": 1,
    "pt_BR": 1,
    "pl_PL": 1,
    "sv_SE": 1,
    "fi_FI": 1,
    "no_NO": 1,
    "da_DK": 1,
    "pt_PT": 1,
}

# Faker's ssn() is a real national-id format in these locales (others fall back to a US SSN).
_NATIONAL_ID_LOCALES = {"en_US", "en_GB", "en_CA", "fr_FR", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE"}
_NATIONAL_ID_LOCALES |= {"de_AT", "de_CH", "fi_FI", "no_NO"}

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _group(s: str, size: int, sep: str) -> str:
    return sep.join(s[i : i + size] for i in range(0, len(s), size))


def format_date(d: date, rng: random.Random, locale: str) -> str:
    """A date in one of the ways people write it (the locale's order for numeric dates)."""
    day_first = not locale.startswith("en_US")
    m = _MONTHS[d.month - 1]
    styles = [
        f"{d.year}-{d.month:02d}-{d.day:02d}",
        f"{d.day:02d}/{d.month:02d}/{d.year}" if day_first else f"{d.month:02d}/{d.day:02d}/{d.year}",
        f"{d.day}.{d.month}.{d.year}" if day_first else f"{d.month}/{d.day}/{d.year}",
        f"{d.day:02d}.{d.month:02d}.{d.year}",
        f"{d.day} {m} {d.year}",
        f"{m} {d.day}, {d.year}",
        f"{d.day} {m[:3]} {d.year}",
        f"{m[:3]} {d.day} {d.year}",
        f"{d.day}{_ordinal(d.day)} of {m} {d.year}",
    ]
    return rng.choice(styles)


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


@dataclass
class Persona:
    """One made-up person: the values a message about them may mention."""

    locale: str
    first: str
    last: str
    full: str
    values: dict[str, str] = field(default_factory=dict)


class ValueMaker:
    """Draws personas and neutral values from a seeded Faker per locale."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers: dict[str, Faker] = {}
        for i, loc in enumerate(LOCALES):
            f = Faker(loc)
            f.seed_instance(seed * 1000 + i)
            self.fakers[loc] = f
        self._locales = list(LOCALES)
        self._weights = [LOCALES[k] for k in self._locales]
        self.en = self.fakers["en_US"]

    # -- personal values ---------------------------------------------------------------------

    def persona(self) -> Persona:
        loc = self.rng.choices(self._locales, self._weights)[0]
        f = self.fakers[loc]
        first, last = f.first_name(), f.last_name()
        full = f"{first} {last}"
        r = self.rng.random()
        if r < 0.08:
            full = f"{first} {f.first_name()} {last}"
        elif r < 0.12:
            full = f"{first[0]}. {last}"
        return Persona(loc, first, last, full)

    def person(self, p: Persona) -> str:
        r = self.rng.random()
        if r < 0.07:
            return f"{self.rng.choice(['Mr.', 'Ms.', 'Mrs.', 'Dr.', 'Prof.'])} {p.last}"
        if r < 0.1:
            return f"{p.last}, {p.first}"
        if r < 0.13:
            return p.full.upper()
        if r < 0.16:
            return p.full.lower()
        return p.full

    def email(self, p: Persona) -> str:
        f = self.fakers[p.locale]
        r = self.rng.random()
        ascii_first = _ascii(p.first).lower() or "user"
        ascii_last = _ascii(p.last).lower().replace(" ", "") or "name"
        domain = self.rng.choice(
            [f.free_email_domain(), f.domain_name(), self.en.free_email_domain(), self.en.domain_name()]
        )
        if r < 0.3:
            local = self.rng.choice(
                [
                    f"{ascii_first}.{ascii_last}",
                    f"{ascii_first}{ascii_last}",
                    f"{ascii_first[0]}{ascii_last}",
                    f"{ascii_first}_{ascii_last}{self.rng.randint(1, 99)}",
                    f"{ascii_last}.{ascii_first}",
                    f"{ascii_first}{self.rng.randint(70, 2005)}",
                ]
            )
            return f"{local}@{domain}"
        if r < 0.5:
            return f.free_email()
        if r < 0.6:
            return f"{ascii_first}+{self.rng.choice(['news', 'shop', 'work', 'test'])}@{domain}"
        return f.email()

    def phone(self, p: Persona) -> str:
        f = self.fakers[p.locale]
        r = self.rng.random()
        if r < 0.6:
            return str(f.phone_number())
        if r < 0.75:
            a, b, c = self.rng.randint(201, 989), self.rng.randint(200, 999), self.rng.randint(0, 9999)
            return self.rng.choice(
                [f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}"]
            )
        if r < 0.9:
            cc = self.rng.choice(["+44", "+49", "+33", "+34", "+39", "+31", "+41", "+43", "+46", "+48", "+61", "+91"])
            rest = "".join(self.rng.choice(string.digits) for _ in range(self.rng.randint(8, 10)))
            return self.rng.choice(
                [f"{cc} {rest[:3]} {rest[3:6]} {rest[6:]}", f"{cc}{rest}", f"{cc} {rest[:2]} {rest[2:]}"]
            )
        return self.rng.choice(["07", "06", "01"]) + "".join(self.rng.choice(string.digits) for _ in range(9))

    def card(self) -> str:
        kind = self.rng.choice(["visa", "mastercard", "amex", "discover", "visa", "mastercard"])
        raw = self.en.credit_card_number(kind if kind != "visa" else "visa16")
        sep = self.rng.choice(["", " ", " ", "-"])
        if len(raw) == 15:  # amex groups 4-6-5
            return f"{raw[:4]}{sep}{raw[4:10]}{sep}{raw[10:]}" if sep else raw
        return _group(raw, 4, sep) if sep else raw

    def iban(self, p: Persona) -> str:
        loc = p.locale if self.rng.random() < 0.7 else self.rng.choice(self._locales)
        raw = str(self.fakers[loc].iban())
        return _group(raw, 4, " ") if self.rng.random() < 0.5 else raw

    def national_id(self, p: Persona) -> str:
        loc = p.locale
        r = self.rng.random()
        if loc in _NATIONAL_ID_LOCALES and r < 0.75:
            v = str(self.fakers[loc].ssn())
            if loc == "en_GB" and self.rng.random() < 0.5:  # NINO written in pairs
                v = f"{v[:2]} {v[2:4]} {v[4:6]} {v[6:8]} {v[8:]}"
            return v
        kind = self.rng.choice(["ssn", "ssn", "dni", "steuer", "aadhaar", "nino"])
        if kind == "ssn":
            a, b, c = self.rng.randint(1, 899), self.rng.randint(1, 99), self.rng.randint(1, 9999)
            return self.rng.choice([f"{a:03d}-{b:02d}-{c:04d}", f"{a:03d} {b:02d} {c:04d}", f"{a:03d}{b:02d}{c:04d}"])
        if kind == "dni":
            n = self.rng.randint(10_000_000, 99_999_999)
            return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"
        if kind == "steuer":
            return "".join(self.rng.choice(string.digits) for _ in range(11))
        if kind == "aadhaar":
            d = "".join(self.rng.choice(string.digits) for _ in range(12))
            return _group(d, 4, " ")
        letters = "ABCEGHJKLMNPRSTWXYZ"
        digits = "".join(self.rng.choice(string.digits) for _ in range(6))
        return f"{self.rng.choice(letters)}{self.rng.choice(letters)}{digits}{self.rng.choice('ABCD')}"

    def ip(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            return str(self.en.ipv4_public())
        if r < 0.7:
            return str(self.en.ipv4_private())
        if r < 0.85:
            return str(self.en.ipv6())
        # compressed IPv6
        groups = [f"{self.rng.randint(0, 0xFFFF):x}" for _ in range(self.rng.randint(2, 4))]
        return self.rng.choice(["2001:db8::", "fe80::", "2a02:", "2600:1f18::"]) + ":".join(groups)

    def street(self, p: Persona) -> str:
        return str(self.fakers[p.locale].street_address()).replace("\n", ", ")

    def address(self, p: Persona) -> str:
        f = self.fakers[p.locale]
        street = self.street(p)
        r = self.rng.random()
        if r < 0.35:
            return f"{street}, {f.postcode()} {f.city()}"
        if r < 0.6:
            return f"{street}, {f.city()} {f.postcode()}"
        if r < 0.75:
            return f"{street}, {f.city()}"
        if r < 0.9:
            return str(f.address()).replace("\n", ", ")
        return f"{street}\n{f.postcode()} {f.city()}"

    def dob(self, p: Persona) -> str:
        d = self.en.date_of_birth(minimum_age=1, maximum_age=95)
        return format_date(d, self.rng, p.locale)

    # -- neutral values (hard negatives) -------------------------------------------------------

    def other_date(self, p: Persona | None = None) -> str:
        d = date(2018, 1, 1) + timedelta(days=self.rng.randint(0, 365 * 9))
        return format_date(d, self.rng, p.locale if p else "en_US")

    def neutral(self, kind: str) -> str:
        rng = self.rng
        makers: dict[str, Callable[[], str]] = {
            "ORDER": lambda: (
                rng.choice(["#", "", "ORD-", "A", "SO-", "PO "])
                + "".join(rng.choice(string.digits) for _ in range(rng.randint(5, 10)))
            ),
            "TRACKING": lambda: rng.choice(
                [
                    "1Z" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
                    "".join(rng.choice(string.digits) for _ in range(rng.choice([12, 20, 22]))),
                    "JD" + "".join(rng.choice(string.digits) for _ in range(16)),
                ]
            ),
            "INVOICE": lambda: (
                rng.choice(["INV-", "RE-", "F", "#"])
                + str(rng.randint(2019, 2026))
                + "-"
                + f"{rng.randint(1, 99999):05d}"
            ),
            "VERSION": lambda: (
                rng.choice(["v", "", "version ", "Python ", "Node ", "iOS ", "Android "])
                + ".".join(str(rng.randint(0, 20)) for _ in range(rng.choice([2, 3, 3, 4])))
            ),
            "PRICE": lambda: rng.choice(
                [
                    f"${rng.randint(1, 4999)}.{rng.randint(0, 99):02d}",
                    f"€{rng.randint(1, 999)},{rng.randint(0, 99):02d}",
                    f"£{rng.randint(1, 999)}",
                    f"{rng.randint(1, 9999)} USD",
                    f"${rng.randint(1, 99)},{rng.randint(0, 999):03d}",
                ]
            ),
            "TIME": lambda: rng.choice(
                [
                    f"{rng.randint(0, 23):02d}:{rng.choice(['00', '15', '30', '45'])}",
                    f"{rng.randint(1, 12)} {rng.choice(['am', 'pm', 'AM', 'PM'])}",
                ]
            ),
            "DATE": lambda: self.other_date(),
            "YEAR": lambda: str(rng.randint(1700, 2030)),
            "CITY": lambda: str(self.fakers[rng.choice(self._locales)].city()),
            "COUNTRY": lambda: str(self.en.country()),
            "COMPANY": lambda: str(self.fakers[rng.choice(self._locales)].company()),
            "JOB": lambda: str(self.en.job()),
            "ISBN": lambda: str(self.en.isbn13()),
            "UUID": lambda: str(uuid.UUID(int=rng.getrandbits(128))),
            "SHA": lambda: "".join(rng.choice("0123456789abcdef") for _ in range(rng.choice([7, 12, 40]))),
            "HOST": lambda: (
                rng.choice(["api", "db", "web", "cache", "auth", "gw"])
                + f"-{rng.randint(1, 40):02d}."
                + rng.choice(["prod", "staging", "internal", "eu-west-1"])
                + "."
                + str(self.en.domain_name())
            ),
            "URL": lambda: str(self.en.url()) + rng.choice(["", "docs", "pricing", "blog/release-notes"]),
            "SKU": lambda: (
                "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
                + "-"
                + "".join(rng.choice(string.digits) for _ in range(rng.randint(3, 6)))
            ),
            "NUM": lambda: rng.choice(
                [
                    str(rng.randint(0, 100000)),
                    f"{rng.random() * 1000:.2f}",
                    f"{rng.randint(1, 999)},{rng.randint(0, 999):03d}",
                ]
            ),
            "PERCENT": lambda: f"{rng.randint(1, 99)}%",
            "PORT": lambda: str(rng.choice([22, 80, 443, 3000, 5432, 6379, 8000, 8080, 8443, 9200])),
            "ACCOUNT": lambda: "".join(rng.choice(string.digits) for _ in range(rng.randint(6, 9))),
            "TICKET": lambda: rng.choice(["JIRA-", "SUP-", "INC", "#", "CASE-"]) + str(rng.randint(100, 999999)),
            "LUHNFAIL": lambda: self._luhn_fail(),
            "BADIP": lambda: rng.choice(
                [
                    ".".join(str(rng.randint(0, 20)) for _ in range(3)),
                    f"{rng.randint(300, 999)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
                ]
            ),
            "STREETNAME": lambda: str(self.fakers[rng.choice(self._locales)].street_name()),
            "FAMOUS": lambda: rng.choice(_FAMOUS),
        }
        return makers[kind]()

    def _luhn_fail(self) -> str:
        body = "".join(self.rng.choice(string.digits) for _ in range(15))
        good = _luhn_digit(body)
        bad = str((int(good) + self.rng.randint(1, 9)) % 10)
        return _group(body + bad, 4, self.rng.choice(["", " ", "-"]))


def _ascii(s: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", s) if c.isascii() and (c.isalnum() or c == " "))


# Public figures and fictional characters named in exam-style or everyday questions: not the
# private personal data the guard is for, but PERSON all the same in presidio's scheme. The
# generator labels them PERSON (consistent with presidio and with what a user expects a name
# detector to do); the policy's `entities` list lets a deployment ignore PERSON.
_FAMOUS = [
    "Albert Einstein",
    "Marie Curie",
    "Isaac Newton",
    "Immanuel Kant",
    "Sigmund Freud",
    "Abraham Lincoln",
    "Napoleon Bonaparte",
    "Jane Austen",
    "Charles Darwin",
    "Ada Lovelace",
    "Alan Turing",
    "Adam Smith",
    "John Maynard Keynes",
    "Winston Churchill",
    "Frida Kahlo",
    "Nelson Mandela",
]
