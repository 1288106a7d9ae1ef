"""The security lab: where DCR hurts, and the rules that keep CIMD safe, as experiments.

Each experiment is `async def run_…(policy) -> ExperimentResult`: it builds its own lab on the
in-process network (nothing leaves the process), runs an attack or a workload under the given
`ASPolicy`, and returns a verdict (`outcome`), the exchanges, and a plain-language explanation
citing the spec. Run one under `NAIVE` and under `HARDENED` to see what each rule buys.

    from lab_servers import HARDENED, NAIVE
    from lab_servers.security import run_ssrf_via_registration
    await run_ssrf_via_registration(NAIVE)      # outcome "leaked"
    await run_ssrf_via_registration(HARDENED)   # outcome "refused"
"""

from .cimd_cache import run_cache_rules
from .cimd_rules import RULE_CASES, RuleCase, run_cimd_rule, run_cimd_rules, valid_document
from .flood import run_registration_flood
from .impersonation import run_impersonation
from .network_fixtures import add_internal_network
from .not_magic import run_attacker_domain_document, run_localhost_redirect_caveat, run_trust_policy
from .one_agent import run_one_agent
from .per_server_secrets import run_per_server_secrets
from .results import ExperimentResult
from .sprawl import SprawlPoint, run_client_id_sprawl
from .ssrf import run_dns_rebinding, run_ssrf_via_registration

__all__ = [
    "RULE_CASES", "ExperimentResult", "RuleCase", "SprawlPoint", "add_internal_network", "run_attacker_domain_document",
    "run_cache_rules", "run_cimd_rule", "run_cimd_rules", "run_client_id_sprawl", "run_dns_rebinding", "run_impersonation",
    "run_localhost_redirect_caveat", "run_one_agent", "run_per_server_secrets", "run_registration_flood", "run_ssrf_via_registration",
    "run_trust_policy", "valid_document",
]  # fmt: skip
