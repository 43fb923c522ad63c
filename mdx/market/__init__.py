"""Market state kept from events: L2 order books (``book``), bars from trades (``bars``), timeframes, the
trade-validity rule (``trades``), and the consumers that keep them up to date in a session."""
