"""A small multi-tenant task service protected by aad_guard."""
