"""mailcutover: move a domain's email DNS from one provider to another, and back."""

__version__ = "0.1.0"
