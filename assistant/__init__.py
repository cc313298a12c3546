"""Microneedling FAQ assistant: grounded, cited answers from the clinic's own documents."""
