"""Starts a key rotation and kills its own process (SIGKILL, as a crash or an OOM kill would) at one
step, for tests/sdk/test_rotation.py:

    python -m tests.sdk.rotation_crash URL STORE_DIR NAME stored|accepted

`stored`: once the key store holds the current and the new key, before AIM hears of the new one.
`accepted`: once AIM has switched to the new key, before the store has forgotten the old one."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from aim_agent import FileStore, secure
from aim_agent.connection import Connection
from aim_agent.keys import StoredIdentity


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(url: str, directory: str, name: str, step: str) -> None:
    store = FileStore(Path(directory))
    identity = secure(name, url=url, store=store)
    if step == "stored":
        save = store.save

        def saving(stored: StoredIdentity) -> None:
            save(stored)
            if stored.pending is not None:
                die()

        store.save = saving  # type: ignore[method-assign]
    else:
        execute = Connection.execute

        async def executing(self: Connection, *args: Any, **kwargs: Any) -> dict[str, Any]:
            answer = await execute(self, *args, **kwargs)
            if "rotateAgentKey" in answer:
                die()
            return answer

        Connection.execute = executing  # type: ignore[method-assign]
    identity.rotate_key()
    sys.exit("the rotation finished: it was meant to be killed")


if __name__ == "__main__":
    main(*sys.argv[1:5])
