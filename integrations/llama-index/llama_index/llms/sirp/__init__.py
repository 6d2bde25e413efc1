"""LlamaIndex integration of sirp."""
