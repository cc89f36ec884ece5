"""The appliance's secrets, encrypted at rest: its SSH private key, its CA's and its libvirt
client certificate's keys, and the tokens of the agent loops it runs for agentless hosts.

Values go through the injected :class:`~provisioner.core.ports.Cipher` before they reach the
:class:`~provisioner.core.ports.SecretStore`; nothing here logs or returns them to a
transport (the use-cases hand them only to the files libvirt and ssh read).
"""

from __future__ import annotations

from collections.abc import Callable

from provisioner.core.ports import Cipher, SecretStore

SSH_KEY = "ssh/private"
CA_CERT, CA_KEY = "ca/cert", "ca/key"
CLIENT_CERT, CLIENT_KEY = "client/cert", "client/key"


def host_token_name(host: str) -> str:
    return f"host-token/{host}"


class Keyring:
    def __init__(self, store: SecretStore, cipher: Cipher, clock: Callable[[], float]) -> None:
        self._store, self._cipher, self._clock = store, cipher, clock

    def get(self, name: str) -> str | None:
        token = self._store.get_secret(name)
        return None if token is None else self._cipher.decrypt(token).decode()

    def put(self, name: str, value: str) -> None:
        self._store.put_secret(name, self._cipher.encrypt(value.encode()), self._clock())

    def delete(self, name: str) -> bool:
        return self._store.delete_secret(name)

    def __repr__(self) -> str:  # never the values
        return f"Keyring({len(self._store.secret_names())} secrets)"
