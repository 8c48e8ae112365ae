"""LiveMind, the method: segmenting input, inferring on each segment, answering at the end."""
