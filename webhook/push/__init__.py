"""Web Push subscriptions of responders, the VAPID key and the signed Acknowledge tokens of push messages."""
