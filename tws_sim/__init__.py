"""Simulate the HCL Workload Automation (TWS) REST API for development, tests and load tests.

Run it with ``python -m tws_sim``; build it in-process with :func:`create_app`. The data set is
deterministic for a seed (:func:`build_dataset`); latency and faults change at run time through
``/_control`` (:class:`FaultInjector`).
"""

from __future__ import annotations

from tws_sim.app import create_app
from tws_sim.catalog import Catalog, JobQuery
from tws_sim.dataset import DataSet, build_dataset
from tws_sim.errors import InvalidQuery, InvalidSettings, TwsSimError
from tws_sim.faults import Fault, FaultInjector, FaultPlan
from tws_sim.settings import FaultSettings, ServerSettings

__all__ = [
    "Catalog",
    "DataSet",
    "Fault",
    "FaultInjector",
    "FaultPlan",
    "FaultSettings",
    "InvalidQuery",
    "InvalidSettings",
    "JobQuery",
    "ServerSettings",
    "TwsSimError",
    "build_dataset",
    "create_app",
]
