"""Tables and plots from benchmark result files (`voice-livemind analyze`)."""
