"""Tests of the TWS simulator (tws_sim)."""
