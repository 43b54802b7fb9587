"""Analytics: pure maths over frames (P&L, greeks)."""
