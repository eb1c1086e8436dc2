"""Two-way replies: inbound SMS (Amazon SNS two-way messaging, Twilio-shaped posts) and email
replies (SES inbound through SNS), verified, parsed and applied to the delivery they answer.

`sns` and `twilio` verify signatures, `keywords` reads a reply's text, `mail` finds the
delivery an email answers, `replies` applies a reply once (the service the API views call).
"""
