"""Times on a study's pages are shown in the study's time zone with its offset
(``in_zone``), never formatted by hand and labelled UTC: a panellist in Tokyo read a
deadline nine hours off. Pages with no study (the account, API tokens) may say UTC."""

from __future__ import annotations

import re
from pathlib import Path

import delphi

TEMPLATES = Path(delphi.__file__).parent / "templates"
NO_STUDY = {"account/admin.html", "api/tokens.html"}
HAND_MADE_UTC = re.compile(r"strftime\([^)]*\)\s*\}\}\s*UTC")


def test_no_study_page_formats_a_time_by_hand_as_utc():
    offenders = [str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")
                 if str(p.relative_to(TEMPLATES)) not in NO_STUDY
                 and HAND_MADE_UTC.search(p.read_text(encoding="utf-8"))]
    assert offenders == [], "use the in_zone filter with the study: " + ", ".join(offenders)
