"""The security engine: the rules that turn recorded events into threats, the policies that answer
them, and the threats' lifecycle."""
