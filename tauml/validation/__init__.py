"""validation_tool (spec §6): compare the shuffled chunks' distributions with a reference."""
