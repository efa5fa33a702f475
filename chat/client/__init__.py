"""The client side of Tsunagu's device-bound sessions, for scripts, tests and the benchmark.

``DeviceKey`` signs DPoP proofs, ``SoftwareAuthenticator`` stands in for a passkey (never
a security boundary), and ``TsunaguClient`` speaks the contract of docs/security.md.
"""

from chat.client.authenticator import AuthenticatorError, SoftwareAuthenticator
from chat.client.device import DeviceKey
from chat.client.session import ClientError, TsunaguClient

__all__ = [
    "AuthenticatorError",
    "ClientError",
    "DeviceKey",
    "SoftwareAuthenticator",
    "TsunaguClient",
]
