"""Grade every practical's reference solution several times and report how stable it is.

    python benchmarks/practicals.py                 # every practical, 5 grades each
    python benchmarks/practicals.py batch-sla -n 3  # some practicals, 3 grades each

Per practical: grade time (median and range), the verdicts, and the headline measurement: the
grader's ``details["headline"]`` ({name, value, unit, ci_low?, ci_high?}) when it sets one, else
the first check's measured value. Exit status 1 if any reference failed a grade.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from quiz.errors import QuizError
from quiz.lab.catalog import get_practical, list_practicals
from quiz.lab.runner import LabResult, grade_practical


@dataclass
class Summary:
    practical_id: str
    durations: list[float] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)  # passed, failed or inconclusive
    headlines: list[dict[str, object]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def headline(result: LabResult) -> dict[str, object]:
    found = result.details.get("headline")
    if isinstance(found, dict) and "value" in found:
        return found
    for check in result.checks:
        if isinstance(check.measured, (int, float)):
            return {"name": check.name, "value": check.measured, "unit": check.unit}
    return {}


def benchmark(practical_id: str, repeats: int) -> Summary:
    summary = Summary(practical_id)
    for run in range(1, repeats + 1):
        try:
            result = grade_practical(practical_id, _reference(practical_id), source="reference")
        except QuizError as err:
            summary.errors.append(str(err))
            print(f"  {practical_id} #{run}: lab error: {err}", file=sys.stderr)
            continue
        summary.durations.append(result.duration_s)
        summary.verdicts.append(result.verdict)
        summary.headlines.append(headline(result))
        if result.error:
            summary.errors.append(result.error)
        print(f"  {practical_id} #{run}: {_run_line(result)}", file=sys.stderr, flush=True)
    return summary


def _reference(practical_id: str) -> Path:
    return get_practical(practical_id).file("reference.py")


def _run_line(result: LabResult) -> str:
    verdict = "pass" if result.passed else "inconclusive" if result.inconclusive else "FAIL"
    line = f"{verdict} in {result.duration_s:.1f} s; {_describe(headline(result))}"
    if result.error:
        line += f"; error: {result.error}"
    for check in result.checks:
        if not check.passed:
            line += (
                f"; {'undecided' if check.inconclusive else 'failed'} {check.name}: {check.message}"
            )
    return line


def _describe(head: dict[str, object]) -> str:
    if not head:
        return "no numeric measurement"
    text = f"{head.get('name', 'measured')} = {head['value']}{_unit(head)}"
    if "ci_low" in head and "ci_high" in head:
        text += f" [{head['ci_low']}, {head['ci_high']}]"
    return text


def _unit(head: dict[str, object]) -> str:
    unit = str(head.get("unit") or "")
    return unit if unit in ("%", "x") else f" {unit}" if unit else ""


def report(summary: Summary) -> str:
    lines = [f"{summary.practical_id}:"]
    if summary.durations:
        d = summary.durations
        lines.append(
            f"  grade time  median {statistics.median(d):.1f} s (min {min(d):.1f}, max {max(d):.1f})"
        )
    passed = sum(v == "passed" for v in summary.verdicts)
    undecided = sum(v == "inconclusive" for v in summary.verdicts)
    tail = f" ({undecided} inconclusive)" if undecided else ""
    lines.append(f"  verdicts    {passed}/{len(summary.verdicts)} passed{tail}")
    values = [float(v) for h in summary.headlines if isinstance(v := h.get("value"), (int, float))]
    if values:
        name = summary.headlines[0].get("name", "measured")
        spread = (
            f"median {statistics.median(values):.3g}, range {min(values):.3g}-{max(values):.3g}"
        )
        lines.append(f"  headline    {spread}  ({name} on the first run; varies by variant)")
        for i, head in enumerate(summary.headlines, 1):
            lines.append(f"    #{i} {_describe(head)}")
    for error in summary.errors:
        lines.append(f"  error: {error}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", metavar="ID", help="practicals (default: all)")
    parser.add_argument("-n", "--repeats", type=int, default=5, help="grades per practical")
    args = parser.parse_args()
    wanted = args.ids or [p.id for p in list_practicals() if p.availability.available]
    summaries = [benchmark(practical_id, args.repeats) for practical_id in wanted]
    print("\n".join(report(s) for s in summaries))
    passed = all(all(v == "passed" for v in s.verdicts) and not s.errors for s in summaries)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
