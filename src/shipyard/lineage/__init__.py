"""Lineage recorded automatically: what each job read and wrote, and what each endpoint serves (``auto``)."""
