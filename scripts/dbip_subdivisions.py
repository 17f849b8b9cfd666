"""DB-IP City Lite ``state1`` names to ISO 3166-2 codes, for the countries regiongate maps.

DB-IP names one region several ways (``Kharkiv`` and ``Kharkivs\u2019ka Oblast\u2019``,
``Odesa`` and ``Odessa``, ``Zaporizhia`` and ``Zaporizhzhya Oblast``), so names are
normalised (case, apostrophes, spaces) and then looked up in an alias table; nothing is
guessed by prefix. ``make geo-db`` refuses a name of a mapped country that the table does
not know, and a test checks every name the shipped data was built from.

Occupied areas: DB-IP labels some networks in Crimea, Sevastopol and Luhansk with country RU.
ISO 3166-2 has no Russian code for them, so under RU those names map to their Ukrainian codes
(a Crimean network labelled RU is still in UA-43). Other RU names are not mapped.
"""

from __future__ import annotations

import re

# Normalised name -> ISO 3166-2 code (the DB-IP spellings seen, plus common variants).
UKRAINE: dict[str, str] = {
    "cherkasy": "UA-71",
    "cherkasy oblast": "UA-71",
    "chernihiv": "UA-74",
    "chernihiv oblast": "UA-74",
    "chernivtsi": "UA-77",
    "chernivtsi oblast": "UA-77",
    "crimea": "UA-43",
    "autonomous republic of crimea": "UA-43",
    "avtonomna respublika krym": "UA-43",
    "dnipropetrovsk": "UA-12",
    "dnipropetrovsk oblast": "UA-12",
    "dnipropetrovska oblast": "UA-12",
    "donetsk": "UA-14",
    "donetsk oblast": "UA-14",
    "donetska oblast": "UA-14",
    "ivano-frankivsk": "UA-26",
    "ivano-frankivsk oblast": "UA-26",
    "kharkiv": "UA-63",
    "kharkiv oblast": "UA-63",
    "kharkivska oblast": "UA-63",
    "kherson": "UA-65",
    "kherson oblast": "UA-65",
    "khmelnytskyi": "UA-68",
    "khmelnytskyi oblast": "UA-68",
    "khmelnytskyy oblast": "UA-68",
    "kirovohrad": "UA-35",
    "kirovohrad oblast": "UA-35",
    "kyiv": "UA-32",  # DB-IP: "Kyiv" is the oblast (Bila Tserkva, Brovary ...)
    "kyiv oblast": "UA-32",
    "kyiv city": "UA-30",
    "kiev": "UA-32",
    "luhansk": "UA-09",
    "luhansk oblast": "UA-09",
    "luhanska oblast": "UA-09",
    "lviv": "UA-46",
    "lviv oblast": "UA-46",
    "mykolaiv": "UA-48",
    "mykolaiv oblast": "UA-48",
    "mykolayiv oblast": "UA-48",
    "odesa": "UA-51",
    "odessa": "UA-51",
    "odesa oblast": "UA-51",
    "odeska oblast": "UA-51",
    "poltava": "UA-53",
    "poltava oblast": "UA-53",
    "rivne": "UA-56",
    "rivne oblast": "UA-56",
    "sebastopol": "UA-40",
    "sebastopol city": "UA-40",
    "sevastopol": "UA-40",
    "sevastopol city": "UA-40",
    "sumy": "UA-59",
    "sumy oblast": "UA-59",
    "ternopil": "UA-61",
    "ternopil oblast": "UA-61",
    "transcarpathia": "UA-21",
    "zakarpattia": "UA-21",
    "zakarpattia oblast": "UA-21",
    "vinnitsa": "UA-05",
    "vinnytsia": "UA-05",
    "vinnytsia oblast": "UA-05",
    "vinnytsya oblast": "UA-05",
    "volyn": "UA-07",
    "volyn oblast": "UA-07",
    "zaporizhia": "UA-23",
    "zaporizhzhia": "UA-23",
    "zaporizhzhia oblast": "UA-23",
    "zaporizhzhya oblast": "UA-23",
    "zhytomyr": "UA-18",
    "zhytomyr oblast": "UA-18",
}

# Country -> its alias table, for every country the build can map.
TABLES: dict[str, dict[str, str]] = {"UA": UKRAINE}

# Areas of a mapped country that DB-IP may label with another country: under that label,
# these Ukrainian codes are kept (the rest of that country's names are not mapped).
OCCUPIED: dict[str, frozenset[str]] = {
    "RU": frozenset({"UA-43", "UA-40", "UA-14", "UA-09", "UA-23", "UA-65"}),
}

_APOSTROPHES = re.compile(r"[\u2019'\u02bc`\u2018]")
_SPACES = re.compile(r"\s+")


def normalise(name: str) -> str:
    """Lower case, no apostrophes (``Kharkivs\u2019ka Oblast\u2019`` -> ``kharkivska oblast``)."""
    return _SPACES.sub(" ", _APOSTROPHES.sub("", name)).strip().lower()


def subdivision_code(country: str, state: str, mapped: frozenset[str] | set[str]) -> str | None:
    """The ISO 3166-2 code of DB-IP's ``state1`` for a network DB-IP places in ``country``;
    None when the country is not mapped, the name is empty, or the name is unknown."""
    if not state:
        return None
    key = normalise(state)
    if country in mapped:
        table = TABLES.get(country)
        return table.get(key) if table is not None else None
    occupied = OCCUPIED.get(country)
    if occupied is None:
        return None
    for owner in mapped:
        code = TABLES.get(owner, {}).get(key)
        if code is not None and code in occupied:
            return code
    return None
