"""Operating beside the stages: the writer lock, the webhook receiver's checks, and the processes a run started."""
