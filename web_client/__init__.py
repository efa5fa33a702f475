"""The smartphone web client: static ES modules and the Jinja2 shell."""
