"""On-call: who is on call at a time (rotations, layers, overrides, swaps), iCalendar export, `tocsin oncall who`."""
