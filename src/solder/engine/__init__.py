"""The workflow engine: definitions, the mapping language and the run loop."""
