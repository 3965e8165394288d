"""What every drop-in layer does the same way: issuing through the API's group commit.

A layer's issue joins the same batch as ``POST /v1/invoices`` (``ApiContext.batcher``): its invoice is on disk before
its answer and shares the batch's fsync. The batcher wants the signed request's key and nonce (for the replay
guard); a layer's request is authenticated by the centre's own scheme instead, so it records a fresh random nonce
under the layer's key id (``compat.<name>``), which can never collide with a POS's.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from daemon.api.auth import Signed
from daemon.api.batch import Later
from daemon.api.context import ApiContext
from daemon.api.keys import ApiKey
from daemon.services import Issued

__all__ = ["issue_batched"]


async def issue_batched(context: ApiContext, key_id: str, prepare: Callable[[], Callable[[], Issued]]) -> Issued:
    """Run ``prepare`` (``context.invoices.prepare(doc)`` or ``prepare_numbered``) in the API's group commit and
    return what it issued; a refusal (``TurnkeyError``) is raised as is, for the layer to answer in its own codes."""
    signed = Signed(ApiKey(key_id, b"", frozenset({"issue"})), int(context.now()), secrets.token_hex(16))

    def work() -> Later[Issued]:
        return Later(prepare())

    issued: Issued = await context.batcher.submit(signed, work)
    return issued
