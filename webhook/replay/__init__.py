"""What-if replay: recorded alert traffic and human actions through a candidate policy (docs/replay.md)."""
