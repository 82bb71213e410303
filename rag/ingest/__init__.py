"""Reading articles: sources and their formats, display text, chunks and sentences."""
