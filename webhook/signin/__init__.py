"""Sign-in of responders to the console: one-time codes through their own channel, sessions, permissions."""
