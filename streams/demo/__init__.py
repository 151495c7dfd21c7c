"""``pioneer demo``: the closed loop end to end on one machine."""
