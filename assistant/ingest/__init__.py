"""Ingest: load documents, clean them by structure, chunk, embed and publish a build."""
