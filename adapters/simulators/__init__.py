"""Simulated third parties (WMS, carriers, sales channels) as real HTTP servers on loopback.

Used by `orderrouter demo`, the benchmarks and the tests as fakes. Each simulator binds
127.0.0.1 on an ephemeral port by default, exposes `.url`, `.start()`, `.stop()`,
works as a context manager, records every call and can be told to fail.
"""
from adapters.simulators.amazon import AmazonSimulator
from adapters.simulators.callbacks import Callback, CallbackScheduler, SentCallback
from adapters.simulators.carrier import CarrierSimulator, Shipment, Tracker
from adapters.simulators.channel import ChannelSimulator
from adapters.simulators.server import DROPPED, RecordedCall, Request, Response, SimulatorServer, wait_until
from adapters.simulators.wms import DeliveryOrder, WmsSimulator

__all__ = [
    "DROPPED", "AmazonSimulator", "Callback", "CallbackScheduler", "CarrierSimulator", "ChannelSimulator",
    "DeliveryOrder", "RecordedCall", "Request", "Response", "SentCallback", "Shipment",
    "SimulatorServer", "Tracker", "WmsSimulator", "wait_until",
]
