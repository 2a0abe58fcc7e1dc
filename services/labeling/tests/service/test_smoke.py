"""One annotator's whole path through the service."""

from __future__ import annotations

from preflog_contracts.rpc import labeling as api
from .conftest import Harness
