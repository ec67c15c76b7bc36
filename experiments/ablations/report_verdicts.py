"""A claim of the course report and its verdict: its rule is a list of checks; a failed core check
makes it "not reproduced", failed other checks "partly" (the claims themselves: report_claims)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Check:
    """One condition of a claim's rule, its value on these runs, and the line shown when it fails.

    A failed ``core`` check makes the claim "not reproduced"; when only other checks fail it is "partly".
    """

    text: str
    passed: bool
    why: str
    core: bool = False


@dataclass
class Claim:
    key: str  # (a), (b), ... in the report's order
    study: str
    claim: str
    measured: str = "study not run"
    checks: list[Check] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if not self.checks:
            return "not measured"
        if any(c.core and not c.passed for c in self.checks):
            return "not reproduced"
        return "reproduced" if all(c.passed for c in self.checks) else "partly"

    @property
    def why(self) -> str:
        failed = [c for c in self.checks if not c.passed]
        return "; ".join(c.why for c in sorted(failed, key=lambda c: not c.core))

    @property
    def rule(self) -> str:
        core = " and ".join(c.text for c in self.checks if c.core)
        more = " and ".join(c.text for c in self.checks if not c.core)
        return f"not reproduced unless {core}; reproduced if also {more}, else partly"

    def as_dict(self) -> dict[str, Any]:
        checks = [{"rule": c.text, "core": c.core, "passed": c.passed} for c in self.checks]
        return {
            "key": self.key,
            "study": self.study,
            "claim": self.claim,
            "measured": self.measured,
            "verdict": self.verdict,
            "why": self.why,
            "rule": self.rule if self.checks else "",
            "checks": checks,
            "numbers": self.numbers,
        }
