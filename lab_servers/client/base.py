"""The machinery every step shares: one `with self._step(n)` block per step records the
exchanges it made (the trace's step attribution), what it learned, and how it failed."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal, TypeVar, get_args

import httpx

from ..arguments import one_of, wrong_type
from ..determinism import SeededIds
from ..error_text import reason, told
from ..loop_local import LoopLocalLock
from ..revisions import Revision, handshake_versions_up_to
from ..revisions import revision as revision_named
from ..trace import Exchange, Trace, current_step, in_step
from .browser import Browser, ConsentPage
from .records import ALL_STEPS, StepError, StepRecord
from .revisions import describe_modern_error, modern_headers, modern_message
from .server_data import ServerDataRefused, member, receive, server_json, server_url, shown
from .state import Credentials, HandshakeState
from .streamable_http import MCP_HEADERS, response_watch, session_id
from .tool_parameter_headers import param_headers
from .www_authenticate import Challenge

RegistrationMethod = Literal["auto", "preregistered", "stored", "cimd", "dcr", "ask-user"]
# The user's answer at consent: "approve" or "deny", or a coroutine function that is shown the
# consent page and returns one of the two (how the stepper widget lets a person decide).
Decision = str | Callable[[ConsentPage], Awaitable[str]]
DECISIONS = ("approve", "deny")
T = TypeVar("T")


def check_decision(what: str, decision: object) -> None:
    """The user's answer at consent, as a learner writes it: a typo ('Approve', 'yes') reached
    the AS's consent form, and step 5 failed with the AS's invalid_request."""
    if not (callable(decision) or isinstance(decision, str)):
        raise wrong_type(f"{what} takes 'approve' or 'deny', or an async function shown the consent page", decision)
    if isinstance(decision, str):
        one_of(what, decision, DECISIONS)


# Registration option 4 (MCP 2025-06-18 on: "prompt the user"): shown the AS metadata, returns
# client details the user typed in, or None to give up.
AskUser = Callable[[dict[str, Any]], Awaitable[Credentials | None]]


class StepRun:
    """One step while it runs: what it learns, its explanation, its notes."""

    def __init__(self, number: int) -> None:
        self.number, self.name, self.title, self.spec = ALL_STEPS[number - 1]
        self.learned: dict[str, Any] = {}
        self.explanation = ""
        self.notes: list[str] = []

    def fail(self, reason: str) -> StepError:
        return StepError(self.number, self.name, reason)


class ClientBase:
    # Where "now" comes from (client assertions, a client secret's expiry): the lab sets its clock
    # (deterministic traces); a client on real sockets uses the real time.
    now: Callable[[], int] = staticmethod(lambda: int(time.time()))

    def __init__(
        self,
        mcp_url: str,
        *,
        http: httpx.AsyncClient,
        browser: Browser,
        trace: Trace,
        ids: SeededIds,
        method: RegistrationMethod = "auto",
        client_metadata: dict[str, Any] | None = None,
        client_metadata_url: str | None = None,
        preregistered: dict[str, Credentials] | None = None,
        decision: Decision = "approve",
        tool: str | None = "whoami",
        revision: str | Revision | None = None,
        ask_user: AskUser | None = None,
        credential_store: dict[str, Credentials] | None = None,
        initial_access_token: str | None = None,
        initial_access_token_issuer: str | None = None,
    ) -> None:
        self.mcp_url = mcp_url
        self.http = http
        self.browser = browser
        self.trace = trace
        self.ids = ids
        self.method: RegistrationMethod = one_of("registration method", method, get_args(RegistrationMethod))
        self.client_metadata = client_metadata or {}
        self.client_metadata_url = client_metadata_url
        self.preregistered = preregistered or {}  # keyed by AS issuer (MCP 2026-07-28: never reuse across ASes)
        self.decision = decision
        self.tool = tool  # the tool step 7 calls; None means the first one tools/list returns
        self.revision = revision_named(revision)  # which MCP revision this client follows
        self.ask_user = ask_user
        # RFC 7591 §3: for an AS whose DCR needs one, from that AS's administrator: a bearer token
        # sent to its registration endpoint only, whatever AS discovery finds (RFC 6750 §5.3).
        self.initial_access_token = initial_access_token
        self.initial_access_token_issuer = initial_access_token_issuer
        # Credentials this client obtained (DCR, the user), keyed by AS issuer from 2026-07-28
        # (SEP-2352); an older client keys them by the MCP server, which is how reuse across
        # authorization servers happened. Pass one dict to several clients to share it.
        self.credential_store: dict[str, Credentials] = {} if credential_store is None else credential_store
        self.state = HandshakeState()
        self.records: list[StepRecord] = []
        self._rpc_id = 0
        # Held while the token changes (a refresh, a step-up, discovering again), one change at a
        # time: two refreshes with one rotating refresh token kill the grant, and two authorizations
        # overwrite each other's state and PKCE verifier and ask the user twice (McpStep._rpc).
        self.renewing = LoopLocalLock()
        # How many renewals under `renewing` have ended, and what the last was for and why it
        # failed (None: it went through, or was cancelled): calls made at once that waited behind a
        # refused one take its refusal as theirs (`_renew`), where each asked the user again.
        self.renewals = 0
        self.renewal_failed: tuple[object, str] | None = None
        # Held while a new session starts after a 404 (McpStep._reopen): calls made at once that
        # all find their session ended wait for the one new session and go on in it.
        self.reopening = LoopLocalLock()
        # MCP §10.1.2: step-up authorizations so far, per (resource, operation); reset on success.
        self.step_ups: dict[tuple[str, str], int] = {}

    @contextlib.contextmanager
    def _step(self, number: int) -> Iterator[StepRun]:
        run = StepRun(number)
        collected: list[Exchange] = []  # exactly this client's exchanges in this step (trace.in_step)
        error: StepError | None = None
        try:
            with in_step(run.name, collected):
                yield run
        except StepError as exc:
            error = exc
        except ServerDataRefused as exc:  # a body or URL a server sent, refused by its rule
            error = run.fail(exc.reason)
        except httpx.HTTPError as exc:
            error = run.fail(f"HTTP request to {told(str(exc.request.url))} failed: {told(reason(exc))}")
        except httpx.InvalidURL as exc:
            # Not an HTTPError. The client checks every URL a server gives it (server_url), so this
            # is one it missed: still the server's doing, as no URL the lab itself builds is invalid.
            error = run.fail(f"a server gave a URL httpx cannot request: {told(str(exc))}")
        except (ValueError, KeyError, TypeError) as exc:
            # No wider net (AttributeError, RecursionError, Exception): what a server sends is read
            # through server_data, which refuses it by name, so one of those escaping here is a bug
            # in the lab, and a test should see its traceback rather than a step that "failed".
            error = run.fail(f"unexpected response: {told(str(exc))}")
        if error is not None:
            run.learned["error"] = error.reason
        exchanges = sorted(collected, key=lambda e: e.seq)
        record = StepRecord(
            run.number, run.name, run.title, exchanges, run.learned, run.explanation, run.spec, run.notes
        )
        self.records.append(record)
        if error is not None:
            raise error from None

    def _failure(self, reason: str) -> StepError:
        """A failure of the step that is running. What reads an MCP answer (`McpStep._rpc`) runs in
        the handshake's step 7 and in every later call's step 8: a failed call after the handshake
        named step 7 while its record, filed by `_step`, said step 8."""
        name = current_step() or "mcp"  # outside any step (no lab path calls it there): the handshake's
        number = next((number for number, step_name, _title, _spec in ALL_STEPS if step_name == name), 7)
        return StepError(number, name, reason)

    async def _rediscover(self, challenge: Challenge, *, only_if_moved: bool = False) -> bool:
        """Steps 2-6 again after a 401 for a token that worked (LabClient implements it); with
        `only_if_moved`, steps 4-6 only if the resource now names another AS. Whether they ran."""
        raise NotImplementedError

    async def _renew(
        self, sent: tuple[str | None, int], refused: str, what: str, key: object, renewal: Callable[[], Awaitable[T]]
    ) -> T | None:
        """Run `renewal` (a refresh, a step-up, a new authorization: `what`, for `key`) under
        `renewing`, for a call `refused` for the token it `sent` (with `renewals` as they were then),
        unless another call changed that token meanwhile (the caller retries with the new one), or
        a renewal for the same `key` that ended since failed: the call then fails with its reason.
        MCP §10.1.2: a client must not ask the user to consent again each time; and the calls made
        at once that waited behind a refused authorization each opened a consent page right after
        the refusal, five pages for five calls. A call made after the failure asks again. What
        `renewal` returned, or None when it did not run."""
        token, seen = sent
        async with self.renewing:
            if self.state.access_token != token:
                return None
            if self.renewals != seen and self.renewal_failed is not None and self.renewal_failed[0] == key:
                raise self._failure(
                    f"{refused}, and the {what} another call ran meanwhile for the same token failed "
                    f"({self.renewal_failed[1]}): the client does not ask again for the calls made at once with it "
                    "(MCP §10.1.2); a later call may"
                )
            failed: tuple[object, str] | None = None
            try:
                return await renewal()
            except Exception as exc:  # cancelled is no refusal: a waiter then renews itself
                failed = (key, str(exc) if isinstance(exc, StepError) else f"{type(exc).__name__}: {told(str(exc))}")
                raise
            finally:
                self.renewals, self.renewal_failed = self.renewals + 1, failed

    def _why_no_token(self) -> str | None:
        """Why no access token is held though the client had one, or None: the resource moved to
        another AS, the old AS's tokens were dropped (RFC 6749 §10.4; SEP-2352: nothing of one AS is
        carried to another), and the new authorization there did not complete (the user denied it,
        say). A call then fails saying so: sent without a token it met the bare 401 challenge, read
        "run the steps in order" though every step had run, and asking the user again from here, at
        the AS it last knew without reading the resource's metadata again, authorized at an AS the
        resource no longer named, or failed for good at one that was gone."""
        if self.state.access_token is not None or self.state.tokens_issuer is None:
            return None
        # Only the authorization after the step 3 that found the new AS: a step-up the user denied
        # at the old AS, earlier, was quoted as the reason the new one failed.
        moved = max((i for i, r in enumerate(self.records) if r.number == 3), default=-1)
        failed = next((r for r in reversed(self.records[moved + 1 :]) if r.number in (4, 5, 6)), None)
        why = (
            f" (step {failed.number} ({failed.name}) failed: {told(failed.learned['error'])})"
            if failed is not None and "error" in failed.learned
            else ""
        )
        return (
            f"no access token is held: the tokens of {shown(self.state.tokens_issuer)} were dropped when the resource "
            f"moved to {shown(self.state.issuer)} (RFC 6749 §10.4, SEP-2352), and the new authorization there did not "
            f"complete{why}. To authorize there, run the handshake again with a new client: `await lab.connect()`, "
            "or `client = lab.client()` and `await client.run_all()`"
        )

    @property
    def redirect_uri(self) -> str:
        return self.client_metadata["redirect_uris"][0]

    async def _first_found(
        self, urls: list[str], step: StepRun, what: str, rule: str
    ) -> tuple[int, dict[str, Any], list[str]]:
        """GET each URL in turn until one answers 200 (the discovery orders of MCP §4.2, §4.3).
        Returns its position in `urls`, its JSON object (`rule` says it must be one), and every
        URL tried with its status."""
        tried = []
        for position, url in enumerate(urls):
            response = await receive(self.http, "GET", server_url(url, f"the {what} URL"))
            tried.append(f"{told(url)} → {response.status_code}")
            if response.status_code == 200:
                return position, server_json(response.content, f"the {what} at {told(url)}", rule=rule), tried
        raise step.fail(f"no {what} found; tried " + "; ".join(tried))

    def _require(self, value: Any, step: StepRun, what: str) -> Any:
        if value is None:
            raise step.fail(f"needs {what} from an earlier step; run the steps in order")
        return value

    def _resource_parameter(self) -> dict[str, str]:
        """RFC 8707 `resource` for a request to the AS: the MCP server's resource identifier
        from its PRM (MCP 2025-06-18 on). Without one (2025-03-26, or a server without PRM) it is
        left out, never sent empty: RFC 8707 §2 makes its value an absolute URI."""
        if self.revision.resource_parameter and self.state.resource:
            return {"resource": self.state.resource}
        return {}

    def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._rpc_id += 1
        return {"jsonrpc": "2.0", "id": self._rpc_id, "method": method, "params": params}

    @property
    def client_info(self) -> dict[str, Any]:
        return {"name": self.client_metadata.get("client_name", "lab-client"), "version": "1.0"}

    @property
    def handshake_version(self) -> str:
        """The version this client offers in initialize: its own, or, for a 2026-07-28 client
        falling back to a legacy server, the newest initialize-era one (versioning §4)."""
        return "2025-11-25" if self.revision.modern_transport else self.revision.version

    @property
    def spoken_versions(self) -> tuple[str, ...]:
        """The protocol versions this client can go on in after initialize: the one it offers and
        those before it that Streamable HTTP carries (2025-03-26 on: 2024-11-05's transport was
        HTTP with SSE, which the lab client does not speak). A server answers the version asked
        for, or "another protocol version it supports" (MCP lifecycle, Version Negotiation)."""
        return tuple(version for version in handshake_versions_up_to(self.handshake_version) if version >= "2025-03-26")

    def _modern_refusal(self, error: dict[str, Any]) -> str:
        """A step's reason for a modern `error` it cannot go on after: the versions the server
        speaks and those this client speaks, by its own revision, and for a 2026-07-28 client by
        initialize too. Step 7 said a 2026-07-28 client that had fallen back to initialize
        "speaks only 2025-11-25", the version it offered there (versioning §4)."""
        by_initialize = self.spoken_versions if self.revision.modern_transport else ()
        return describe_modern_error(error, self.revision.version, by_initialize)

    def answering_version(self, message: dict[str, Any]) -> str:
        """The protocol version a server answers `message` in (which says whether a JSON-RPC batch
        may carry the answer, `streamable_http`): the one negotiated, or, for an initialize and
        before any, the one the client offers."""
        if message.get("method") == "initialize" or self.state.protocol_version is None:
            return self.handshake_version
        return self.state.protocol_version

    def _open_session(self, response: httpx.Response, result: dict[str, Any]) -> str:
        """The protocol version an initialize `result` negotiated, checked, and the session its
        `response` opened (`state.session_id`). MCP lifecycle, Version Negotiation: "If the client
        does not support the version in the server's response, it SHOULD disconnect" (the
        schema's InitializeResult: MUST); the version goes out again in every MCP-Protocol-Version
        header, so only one the client knows, never a server's text, reaches that header."""
        version = member(result, "protocolVersion", str, "the initialize result's", rule="MCP schema")
        if not version:
            raise ServerDataRefused("the initialize result has no protocolVersion (MCP lifecycle)")
        if version not in self.spoken_versions:
            raise ServerDataRefused(
                f"the server answered initialize with protocolVersion {shown(version)}, which this "
                f"{self.revision} client does not speak (it speaks {', '.join(self.spoken_versions)}); MCP lifecycle, "
                "Version Negotiation: if the client does not support the version in the server's response, it "
                "SHOULD disconnect"
            )
        self.state.session_id = session_id(response)
        return version

    def _initialize_message(self) -> dict[str, Any]:
        return self._request("initialize", {
            "protocolVersion": self.handshake_version, "capabilities": {}, "clientInfo": self.client_info,
        })  # fmt: skip

    async def _post_mcp(self, message: dict[str, Any], token: str | None) -> httpx.Response:
        headers = dict(MCP_HEADERS)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.state.era == "modern":
            # 2026-07-28: no session to carry the version; every request states it twice.
            headers.update(modern_headers(message, self.revision.version))
            if message["method"] == "tools/call":
                # streamable-http, Custom Headers from Tool Parameters: the arguments the tool's
                # inputSchema marks with x-mcp-header, mirrored into Mcp-Param-{Name}.
                params = message.get("params") or {}
                designated = self.state.tool_headers.get(str(params.get("name")), {})
                headers.update(param_headers(designated, params.get("arguments")))
            message = modern_message(message, self.revision.version, self.client_info)
        elif message.get("method") != "initialize":
            # Not on initialize, which negotiates the version anew and starts a new session "without
            # a session ID attached" (Session Management). Its answer may assign one
            # (`_open_session`); until then, other calls go on in the session they know: cleared
            # when the initialize went out, a call sent meanwhile (or one whose 404 came then,
            # McpStep._reopen) had no session at all, and a server requiring one answered 400.
            if self.state.protocol_version and self.state.protocol_version != "2025-03-26":
                # 2025-06-18 transports: MCP-Protocol-Version on every request after initialize (which
                # negotiates it anew: a version from an earlier initialize is not this one's).
                headers["MCP-Protocol-Version"] = self.state.protocol_version
            if self.state.session_id is not None:
                # Session Management (2025-03-26 to 2025-11-25): "If an Mcp-Session-Id is returned by
                # the server during initialization, clients ... MUST include it in the Mcp-Session-Id
                # header on all of their subsequent HTTP requests."
                headers["Mcp-Session-Id"] = self.state.session_id
        watch = response_watch(message["id"], self.answering_version(message)) if "id" in message else None
        return await receive(
            self.http, "POST", self.mcp_url, enough_for=watch, content=json.dumps(message), headers=headers
        )
