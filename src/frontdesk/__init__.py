"""frontdesk: a contact-center chat server speaking the Bright Pattern Mobile/Web API."""

__version__ = "0.1.0"
