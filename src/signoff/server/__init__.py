"""The embedded service behind ``signoff serve`` (install ``signoff[server]``)."""
