"""Kayisu (卡易速): the shared layer with the domain, data access and handler plumbing."""
