"""Regulation clauses named in tags (``@regulation:GDPR-Art.5(1)(c)``) and where to read them.

Links are only followed when a reader clicks them: the report itself fetches nothing.
"""

from __future__ import annotations

import re

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^GDPR-Art\.?(\d+)", re.I), "https://gdpr-info.eu/art-{0}-gdpr/"),
    (re.compile(r"^ePrivacy-Art\.?(\d+)", re.I), "https://eur-lex.europa.eu/eli/dir/2002/58/oj"),
    (re.compile(r"^DPDP-Sec\.?(\d+)", re.I),
     "https://www.meity.gov.in/static/uploads/2024/06/2bf1f0e9f04e6fb4f8fef35e82c42aa5.pdf"),
    (re.compile(r"^CCPA-(1798\.\d+)", re.I),
     "https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml?lawCode=CIV&sectionNum={0}"),
]


def link(clause: str) -> str | None:
    """The public text of a clause, or None for a regulation Telltale does not know."""
    for pattern, url in _RULES:
        m = pattern.match(clause)
        if m:
            return url.format(*m.groups())
    return None
