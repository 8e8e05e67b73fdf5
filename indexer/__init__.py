"""The write path: sources, FAQ expansion and chunking, embedding cache, builds, reindex."""
