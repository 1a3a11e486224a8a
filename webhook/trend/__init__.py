"""Prevention: forecasts of exhaustion and seasonal baselines of business metrics, and their backtests."""
