"""What the stepper runs after the handshake, with the same client: a tool call from a cell, the
step-up button's call (403 `insufficient_scope` → step-up → consent → token → retry) and the
expiry button's (the clock past the token's `exp` → 401 → refresh → retry). A part of
`HandshakeStepper`, which provides the state and the rendering these use."""

from __future__ import annotations

from typing import Any

from ..client import ConsentPage, Decision, decode_jwt_payload
from ..lab import Lab

# After the handshake: the tool that needs more scope than the handshake asked for (notes:write),
# and the tool called once the token has expired.
STEP_UP_CALL: tuple[str, dict[str, Any]] = ("add_note", {"text": "added from the stepper"})
REFRESH_CALL: tuple[str, dict[str, Any]] = ("whoami", {})
FINISH_FIRST = "finish the handshake first (Next step until step 7 is done)"


class AfterHandshakeCalls:
    # What HandshakeStepper holds and does, which these calls read, set and call.
    lab: Lab
    client: Any
    error: BaseException | None
    busy: bool
    last_call: str | None
    last_result: Any
    _run: int

    @property
    def done(self) -> bool:
        raise NotImplementedError

    @property
    def awaiting_decision(self) -> bool:
        raise NotImplementedError

    def _begin(self, *, step: bool = False) -> None:
        raise NotImplementedError

    def _render(self) -> None:
        raise NotImplementedError

    async def _ask_user(self, page: ConsentPage) -> str:
        raise NotImplementedError

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """After the handshake: call a tool through the stepper's client, so that what it sets off
        (a refresh, a step-up with its consent and token steps) appears here as steps too."""
        if self.busy or self.awaiting_decision:
            raise RuntimeError("the stepper is running a step, or its consent page waits for Approve or Deny")
        if self.client is None or not self.done:
            raise RuntimeError(FINISH_FIRST)
        self._begin()  # the buttons wait for the call, as for a click
        # Shown as a button's call is (the status line, "Last call …"): else the line went on
        # showing an earlier click's failure over a call that went through. Raised too: a cell asked.
        result = await self._after_handshake(name, arguments, raises=True)
        assert result is not None  # a failure was raised
        return result

    async def _after_handshake(
        self, name: str, arguments: dict[str, Any] | None, ask_user: Decision | None = None, *, raises: bool = False
    ) -> dict[str, Any] | None:
        # Called with self.busy set by the click handler; like a step, a failure is shown, not raised.
        # With `ask_user`, a consent page this call leads to (a step-up's) waits for Approve or Deny,
        # as step 5 does: the user consents to the wider scope, not the stepper.
        if self._unfinished():
            return None
        run, client = self._run, self.client
        start = len(client.records)
        result: dict[str, Any] | None = None
        default_decision = client.decision
        if ask_user is not None:
            client.decision = ask_user
        try:
            result = await client.call_tool(name, arguments)
            self.error = None
        except Exception as exc:  # shown in the widget, as for a step (and raised to a cell that called)
            self.error = exc
            if raises:
                raise
        finally:
            client.decision = default_decision
            if run == self._run:  # else a reset abandoned the call, and self.client is the new run's
                ran = " → ".join(f"{r.number} {r.name}" for r in client.records[start:])
                self.last_call, self.last_result = (f"{name}: {ran}" if ran else name), result
                self.busy = False
                self._render()
        return result

    async def _expire_then_call(self) -> dict[str, Any] | None:
        # Expiry is the clock passing the token's own `exp` (RFC 7519 §4.1.4); an opaque token has
        # none to read, and then its `expires_in` (RFC 6749 §5.1) from the token response counts.
        if self._unfinished():
            return None
        tokens = self.client.state.tokens
        try:
            # No token is held after the new authorization at the AS a resource moved to failed (the
            # user denied it): nothing to expire, and the call fails saying why (ClientBase.
            # _why_no_token). Read as a token, its None failed as "'NoneType' object is not subscriptable".
            if tokens is not None:
                self.lab.clock.advance(_seconds_to_expiry(tokens, self.lab.clock.now()) + 1)
        except Exception as exc:  # noqa: BLE001 - e.g. a wall clock, which cannot be advanced
            self.error, self.busy = exc, False
            self._render()
            return None
        # With `ask_user`: a refresh that fails at a moved resource leads to a consent page, which waits.
        return await self._after_handshake(*REFRESH_CALL, self._ask_user)

    def _unfinished(self) -> bool:
        """Before the handshake is done, an after-handshake button has nothing to call with: its
        click (from a cell, or one in flight when Reset hid the button) says so and frees the
        buttons, instead of failing on a missing client and leaving them waiting for good."""
        if self.client is not None and self.done:
            return False
        self.error, self.busy = RuntimeError(FINISH_FIRST), False
        self._render()
        return True


def _seconds_to_expiry(tokens: dict[str, Any], now: int) -> int:
    """How long the token has left: to its own `exp` (RFC 7519 §4.1.4), or for an opaque token to
    the `expires_in` of the token response (RFC 6749 §5.1, RECOMMENDED). With neither, nothing says
    when it expires: said so, where a KeyError on 'expires_in' was shown."""
    claims = decode_jwt_payload(tokens.get("access_token")) or {}
    if "exp" in claims:
        return max(0, int(claims["exp"]) - now)
    if "expires_in" in tokens:
        return int(tokens["expires_in"])
    raise ValueError(
        "the access token has no exp claim and its token response no expires_in (RFC 6749 §5.1): nothing says "
        "when it expires, so there is no expiry to move the clock past"
    )
