"""The IMPACT study's two-round report: time to build the HTML, the PDF and the DOCX.

    python bench/report_pdf.py [--panellists 120 --repeats 1 --out report.pdf]

No PostgreSQL needed: the study lives in a temporary SQLite file, built through the
platform's use cases (the shipped IMPACT survey, a panel spread over its groups,
round 1, every statement carried forward, round 2), with the answers bulk-inserted
as the other benchmarks do.  Prints each format's wall and CPU time; the
target is a PDF in under 5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seed import bulk_answers, close, launch, make_app  # noqa: E402

from delphi.decisions import operations as decisions  # noqa: E402
from delphi.exports.downloads import export  # noqa: E402
from delphi.extensions import db  # noqa: E402
from delphi.models import ItemStatus  # noqa: E402
from delphi.studies import operations as study_ops  # noqa: E402
from delphi.surveys import load_survey_file  # noqa: E402

SURVEY = ROOT / "delphi" / "surveys" / "impact-paediatric-car-t.yaml"


def build(panellists: int):
    definition = load_survey_file(SURVEY)
    study = study_ops.import_survey(definition, "bench")
    lines = ["name,email,group"]
    for i in range(panellists):
        group = study.groups[i % len(study.groups)]
        lines.append(f"Panellist {i},p{i}@bench.example.org,{group.key}")
    study_ops.import_panel(study, "\n".join(lines), "bench")
    db.session.commit()
    bulk_answers(launch(study), seed=1)
    close(study)
    active = [i for i in study.items if i.status is ItemStatus.ACTIVE]
    decisions.carry_forward(study, active, "no consensus yet", "bench")
    db.session.commit()
    bulk_answers(launch(study), seed=2)
    close(study)
    return study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panellists", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the PDF here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(f"sqlite:///{tmp}/bench.db")
        with app.app_context():
            db.create_all()
            study = build(args.panellists)
            times: dict[str, float] = {}
            cpu: dict[str, float] = {}
            pdf = b""
            for fmt in ("html", "pdf", "docx"):
                best = float("inf")
                for _ in range(args.repeats):
                    start, cpu_start = time.perf_counter(), time.process_time()
                    try:
                        data = export(study, "report", fmt).data
                    except Exception as exc:  # noqa: BLE001 - a missing extra is reported
                        print(f"{fmt}: not built ({exc})")
                        break
                    best = min(best, time.perf_counter() - start)
                    cpu[fmt] = min(cpu.get(fmt, float("inf")), time.process_time() - cpu_start)
                    if fmt == "pdf":
                        pdf = data
                times[fmt] = best
            if pdf and args.out:
                args.out.write_bytes(pdf)
            statements = len(study.items)
    print(f"IMPACT report, 2 rounds, {statements} statements, {args.panellists} panellists")
    for fmt, seconds in times.items():
        if seconds != float("inf"):
            print(f"  {fmt:5s} {seconds:6.2f} s wall, {cpu[fmt]:6.2f} s CPU")


if __name__ == "__main__":
    main()
