"""Sign-up, sign-in, sessions, people and their organization."""
