"""Wake-up bus: tells readers that a session log advanced. It never carries events."""
