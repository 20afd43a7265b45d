"""How long a click on "Download your certificate" takes: making the PDF (what every click cost when it was made
each time), and a click once it is made (the terms page starts making it, and it is kept until its data changes).

    .venv/bin/python -m bench.certificate [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

from club.ambassadors import certificate
from club.ambassadors.certificate_texts import certificate_text
from club.ambassadors.models import Appointment
from club.ambassadors.service import Totals

NAMES = {"en": "Sofie Claeys", "nl": "Sofie Claeys", "ja": "山田 花子"}


def text(language: str, people: int) -> certificate.CertificateText:
    term = Appointment(
        starts_on=dt.date(2025, 9, 1),
        ends_on=dt.date(2026, 6, 30),
        home_institution="ugent",
        host_institution="kanazawa-university",
        stationed_in="kanazawa",
    )
    totals = Totals(
        activities=12,
        quarter_hours=122,
        people_reached=people,
        recruits=3,
        by_category=[("crafts", 5, 40, 200), ("food", 4, 30, 100), ("education", 3, 52, 40)],
    )
    return certificate_text(language, name=NAMES[language], term=term, totals=totals, issued_on=dt.date(2026, 6, 20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("language  making the PDF (median s)  a click once made (median ms)")
    for language in ("en", "nl", "ja"):
        made = []
        for round_ in range(args.rounds):
            started = time.perf_counter()
            certificate.build(text(language, 300 + round_))
            made.append(time.perf_counter() - started)
        prepared = text(language, 1000)
        certificate.cached_build(prepared)  # what the terms page starts when it shows the button
        clicks = []
        for _round in range(args.rounds):
            started = time.perf_counter()
            certificate.cached_build(prepared)
            clicks.append((time.perf_counter() - started) * 1000)
        print(f"{language:8}  {statistics.median(made):25.2f}  {statistics.median(clicks):29.3f}")


if __name__ == "__main__":
    main()
