"""What the sync ``Hold`` and the ``AsyncHold`` share: the placed hold's fields, its state after capture or release,
and the rule for a release that fails while the ``with`` block exits. Only the I/O differs between the two."""

from __future__ import annotations

from typing import TypeVar

from credits_client.errors import CreditsError, HoldExpired, HoldNotPending
from credits_client.models import CaptureResult, HoldPlaced, ReleaseResult

R = TypeVar("R", CaptureResult, ReleaseResult)


class HoldBase:
    def __init__(self, placed: HoldPlaced) -> None:
        self.hold_id = placed.hold_id
        self.amount = placed.amount
        self.expires_at = placed.expires_at
        self.status = placed.status
        self.available = placed.available
        self.replayed = placed.replayed
        self.result: CaptureResult | ReleaseResult | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(hold_id={self.hold_id!r}, amount={self.amount}, status={self.status!r})"

    @property
    def captured(self) -> int | None:
        return self.result.captured if isinstance(self.result, CaptureResult) else None

    def _check_pending(self) -> None:
        if self.status != "pending":
            raise HoldNotPending(f"Hold {self.hold_id} is already {self.status}.")

    def _resolved(self, result: R) -> R:
        self.status, self.result = result.status, result
        return result

    def _absorb_exit_error(self, err: CreditsError, exc: BaseException | None) -> bool:
        """The exit's release failed. True when that is not the caller's problem: the hold expired or was resolved
        elsewhere (nothing is reserved any more), or the block raised already (its exception wins, with a note)."""
        if isinstance(err, HoldNotPending):
            self.status = "expired" if isinstance(err, HoldExpired) else "resolved"
            return True
        if exc is None:
            return False
        exc.add_note(f"credits_client: releasing hold {self.hold_id} failed too ({err}); "
                     f"it frees itself at {self.expires_at}.")
        return True
