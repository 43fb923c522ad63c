"""Analytics on bars and series: indicators (batch functions and streaming twins with equal values) and
the compiled kernels behind them. Signals, pairs and alerts join here; analytics never imports the UI."""
