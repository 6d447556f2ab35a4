"""Wire formats of the Mobile/Web API and the agent API: pure data, no I/O."""
