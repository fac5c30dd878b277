"""Policy as code: YAML rules over audit.json numbers, judged into a scorecard (also as JUnit XML)."""
from auditkit.policy.rules import DEFAULT_POLICY_PATH, KNOWN_PATHS, Policy, PolicyError, Rule, load_policy, parse_policy
from auditkit.policy.scorecard import RuleResult, Scorecard, evaluate

__all__ = ["DEFAULT_POLICY_PATH", "KNOWN_PATHS", "Policy", "PolicyError", "Rule", "RuleResult", "Scorecard",
           "evaluate", "load_policy", "parse_policy"]
