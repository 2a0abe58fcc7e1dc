"""Operations whose owning service has not published its RPC contract yet.

The gateway does not fake them: they answer UNAVAILABLE until they are wired to the
service's request/response structs in ``preflog_contracts.rpc``.
"""

from __future__ import annotations

from typing import NoReturn

from preflog_contracts.errors import Unavailable


def not_wired(service: str, operation: str) -> NoReturn:
    raise Unavailable(f"{operation} is not available yet: the {service} service does not offer it")
