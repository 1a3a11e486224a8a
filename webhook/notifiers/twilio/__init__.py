"""Twilio: the SMS/voice notifier, TwiML for calls and keypad answers, request signatures."""
