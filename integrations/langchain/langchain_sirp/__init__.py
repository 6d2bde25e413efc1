"""LangChain integration of sirp."""
