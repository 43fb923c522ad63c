"""Alerts: rules on prices, changes, z-scores, volatility, spreads, imbalance, staleness and confluence /
consensus signal changes, evaluated by event time in a session (``AlertEngine``), fired as ``Alert`` events
with cooldowns, and sent to sinks (the ``mdx`` logger, webhooks)."""

from .alert import Alert
from .engine import AlertEngine, Sink
from .rules import (
    ConfluenceLabelChange,
    ConsensusChange,
    ImbalanceBeyond,
    PctChange,
    PriceAbove,
    PriceBelow,
    PriceCross,
    Rule,
    SpreadAbove,
    Stale,
    VolatilitySpike,
    ZScoreBeyond,
)
from .sinks import LogSink, WebhookSink, alert_payload

__all__ = [
    "Alert",
    "AlertEngine",
    "ConfluenceLabelChange",
    "ConsensusChange",
    "ImbalanceBeyond",
    "LogSink",
    "PctChange",
    "PriceAbove",
    "PriceBelow",
    "PriceCross",
    "Rule",
    "Sink",
    "SpreadAbove",
    "Stale",
    "VolatilitySpike",
    "WebhookSink",
    "ZScoreBeyond",
    "alert_payload",
]
