"""The local stack's embedded AWS: moto's server, keeping Cognito's users across restarts.

The owner of every recording is its user's Cognito ``sub``, which Cognito (and moto)
generate and never let a client choose, so users cannot be re-created from the API
after a restart. This process runs moto's server and saves moto's own user-pool
objects to the data folder every few seconds and when it stops, and loads them back
before it serves: users, their ids and passwords, pool and client ids, and therefore
the tokens already issued, all stay valid.

``python -m local.aws_server <host> <port> <state-file>``
"""

from __future__ import annotations

import copy
import os
import pickle
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from joserfc import jwk
from moto.backends import get_backend
from moto.server import ThreadedMotoServer
from moto.utilities.utils import load_resource

SAVE_INTERVAL_S = 5.0


def _pools() -> dict[tuple[str, str], Any]:
    backends = get_backend("cognito-idp")
    return {
        (account, region): backend.user_pools
        for account, regions in backends.items()
        for region, backend in regions.items()
        if backend.user_pools
    }


def save(path: Path) -> None:
    """Write every user pool (moto's objects, minus the signing key every pool shares)."""
    state = {}
    for where, pools in _pools().items():
        copies = {}
        for pool_id, pool in list(pools.items()):
            clone = copy.copy(pool)
            clone.json_web_key = None  # a cryptography key object; the same bundled key for all pools
            copies[pool_id] = clone
        state[where] = copies
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(pickle.dumps(state))
    os.replace(temporary, path)


def restore(path: Path) -> None:
    """Load saved pools into this (fresh) moto process."""
    if not path.exists():
        return
    # Our own file in the stack's data folder, written by save() above.
    state = pickle.loads(path.read_bytes())  # noqa: S301
    key = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    backends = get_backend("cognito-idp")
    for (account, region), pools in state.items():
        for pool in pools.values():
            pool.json_web_key = key
        backends[account][region].user_pools.update(pools)


def main() -> None:
    """Serve moto on host:port until SIGTERM or SIGINT, saving Cognito state as it goes."""
    host, port, state_file = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    restore(state_file)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(SAVE_INTERVAL_S):
        try:
            save(state_file)
        except RuntimeError:
            continue  # a pool changed while being copied; the next round saves it
    server.stop()
    save(state_file)


if __name__ == "__main__":
    main()
