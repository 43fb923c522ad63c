"""Market state kept from events: L2 order books (``book``), bars from trades (``bars``), timeframes, the
trade-validity rule (``trades``), and the consumers that keep them up to date in a session
(``consumers``); across venues, deviation flags and a composite price per asset (``venues``:
``VenueMonitor``) and delay with the clock offset split off per venue and channel (``latency``:
``LatencyTracker``)."""
