// Package notify delivers secmon alerts to people and systems. Each type
// implements secmon.Notifier; the Monitor calls them off the logging path,
// so a slow or failing notifier never stalls an application.
//
// # Console
//
// [NewSlog] writes one structured line per alert to a *slog.Logger at a
// level that follows the alert's severity ([SlogLevel]): INFO for info and
// low alerts, WARN for medium ones, ERROR for high and critical ones.
//
// # Webhook
//
// [NewWebhook] posts the alert as JSON ([Payload], bounded in size) and
// signs it: [HeaderSignature] carries "sha256=" and the hexadecimal
// HMAC-SHA256 of the [HeaderTimestamp] value, a dot, the [HeaderDelivery]
// value, a dot and the body. Because the timestamp is inside the MAC, a
// receiver that checks it with [VerifySignature] rejects a captured request
// replayed later; because the delivery ID is inside it too and stays the
// same across retries, a receiver that drops repeated IDs drops both
// retried duplicates and replays within the window. Network errors and 5xx
// answers are retried with exponential backoff, at most
// [MaxWebhookAttempts] times; 4xx answers are not retried and redirects are
// not followed. Errors name only the endpoint's scheme and host: neither
// the secret nor a token in the URL is ever printed.
//
// # E-mail
//
// [NewSMTP] mails an alert through an SMTP server with net/smtp, using
// STARTTLS when offered. Wrap it in [MinSeverity] to mail only critical
// alerts. Alert text is confined to the subject (control characters
// removed, RFC 2047 encoded) and a quoted-printable body, so no alert field
// can add or change a header.
//
// # Alert text
//
// Alert fields can carry attacker-influenced text (a user name in the
// subject, a user agent in the evidence). The console and e-mail notifiers
// put every field on one line without control, bidirectional or invisible
// characters and cap it; the e-mail subject also cannot hold an RFC 2047
// encoded word of the alert's own. The webhook sends the text as JSON
// strings (escaped by encoding/json) and leaves rendering to the receiver.
//
// # Combining
//
// [MinSeverity] filters by severity and [Multi] fans one alert out to
// several notifiers.
package notify
