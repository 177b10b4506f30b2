package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/secmon-go/secmon"
)

// SMTP defaults.
const (
	DefaultSMTPTimeout = 10 * time.Second
	DefaultSMTPSubject = "[secmon]"
	MaxSMTPRecipients  = 50
)

// SMTPConfig configures an SMTP notifier. Zero fields mean the documented
// defaults.
type SMTPConfig struct {
	// Addr is the mail server's host:port. Required.
	Addr string
	// From is the envelope and header sender, a bare address such as
	// "secmon@example.com". Required.
	From string
	// To lists the recipients' bare addresses. Required, at most
	// MaxSMTPRecipients.
	To []string
	// Auth authenticates to the server, for example smtp.PlainAuth (which
	// itself refuses to send a password without TLS except to localhost).
	// Nil means no authentication.
	Auth smtp.Auth
	// TLS configures STARTTLS, used whenever the server offers it. Nil
	// means a config with ServerName set from Addr and TLS 1.2 at least; a
	// config without ServerName is used as a copy with ServerName set from
	// Addr, so the server's certificate is always checked against a name.
	TLS *tls.Config
	// RequireTLS refuses to send when the server does not offer STARTTLS.
	// Without it, anyone on the path can strip the STARTTLS offer and read
	// the alerts (user IDs, addresses) in clear text: set it unless the
	// server is on loopback or an otherwise trusted network.
	RequireTLS bool
	// Timeout bounds one whole delivery (dial to QUIT). Default
	// DefaultSMTPTimeout.
	Timeout time.Duration
	// SubjectPrefix starts every subject. Default DefaultSMTPSubject.
	SubjectPrefix string
	// LocalName is the name sent in EHLO. Default "localhost".
	LocalName string
	// Clock stamps the Date header. Nil means the system clock.
	Clock secmon.Clock
}

// SMTP e-mails alerts with net/smtp, one message per alert. It sends
// whatever it is given: wrap it in MinSeverity(secmon.SeverityCritical, …)
// to mail only critical alerts.
//
// Alert text never reaches a header unescaped: the subject is stripped of
// control characters (CR and LF included) and encoded as an RFC 2047
// word when it is not plain ASCII, addresses are checked at construction,
// and the body is quoted-printable. An SMTP is safe for concurrent use;
// each Notify opens its own connection.
type SMTP struct {
	addr, host string
	from       string
	to         []string
	auth       smtp.Auth
	tls        *tls.Config
	requireTLS bool
	timeout    time.Duration
	prefix     string
	localName  string
	clock      secmon.Clock
	closed     atomic.Bool
}

var _ secmon.Notifier = (*SMTP)(nil)

// NewSMTP checks cfg and returns an SMTP notifier. It does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, &secmon.FieldError{Field: "SMTPConfig.Addr", Reason: "must be host:port"}
	}
	if !bareAddress(cfg.From) {
		return nil, &secmon.FieldError{Field: "SMTPConfig.From", Reason: "must be a bare e-mail address"}
	}
	if len(cfg.To) == 0 || len(cfg.To) > MaxSMTPRecipients {
		return nil, &secmon.FieldError{Field: "SMTPConfig.To", Reason: fmt.Sprintf("must list 1 to %d addresses", MaxSMTPRecipients)}
	}
	for i, to := range cfg.To {
		if !bareAddress(to) {
			return nil, &secmon.FieldError{Field: fmt.Sprintf("SMTPConfig.To[%d]", i), Reason: "must be a bare e-mail address"}
		}
	}
	if cfg.Timeout < 0 {
		return nil, &secmon.FieldError{Field: "SMTPConfig.Timeout", Reason: "must not be negative"}
	}
	if strings.ContainsFunc(cfg.SubjectPrefix+cfg.LocalName, isControl) {
		return nil, &secmon.FieldError{Field: "SMTPConfig", Reason: "SubjectPrefix and LocalName must not hold control characters"}
	}
	s := &SMTP{
		addr:       cfg.Addr,
		host:       host,
		from:       cfg.From,
		to:         append([]string(nil), cfg.To...),
		auth:       cfg.Auth,
		tls:        cfg.TLS,
		requireTLS: cfg.RequireTLS,
		timeout:    orDefault(cfg.Timeout, DefaultSMTPTimeout),
		prefix:     cfg.SubjectPrefix,
		localName:  cfg.LocalName,
		clock:      cfg.Clock,
	}
	if s.tls == nil {
		s.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	} else if s.tls.ServerName == "" {
		s.tls = s.tls.Clone()
		s.tls.ServerName = host
	}
	if s.prefix == "" {
		s.prefix = DefaultSMTPSubject
	}
	if s.localName == "" {
		s.localName = "localhost"
	}
	if s.clock == nil {
		s.clock = secmon.SystemClock{}
	}
	return s, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// bareAddress accepts "user@host" and nothing else: no display name, no
// angle brackets, no control characters.
func bareAddress(s string) bool {
	if s == "" || len(s) > 254 || strings.ContainsFunc(s, isControl) || strings.ContainsAny(s, "<>, ") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// SMTPError reports a failed delivery. It never contains credentials.
type SMTPError struct {
	Addr  string // server host:port
	Stage string // "dial", "hello", "starttls", "auth", "mail", "rcpt", "data", "quit"
	Err   error
}

// Error names the server, the stage that failed and why.
func (e *SMTPError) Error() string {
	return fmt.Sprintf("notify: smtp %s: %s: %v", e.Addr, e.Stage, e.Err)
}

// Unwrap returns the underlying error.
func (e *SMTPError) Unwrap() error { return e.Err }

// ErrNoTLS is returned (inside an *SMTPError) when RequireTLS is set and
// the server does not offer STARTTLS.
var ErrNoTLS = errors.New("server does not offer STARTTLS")

// Notify mails a to every recipient in one SMTP transaction. It gives up
// when ctx ends or Timeout passes. A failure is an *SMTPError.
func (s *SMTP) Notify(ctx context.Context, a secmon.Alert) error {
	if s.closed.Load() {
		return secmon.ErrClosed
	}
	msg := s.message(a)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	fail := func(stage string, err error) error { return &SMTPError{Addr: s.addr, Stage: stage, Err: err} }

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fail("dial", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Cancelling ctx interrupts a blocked read or write.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fail("hello", err)
	}
	defer c.Close()
	if err := c.Hello(s.localName); err != nil {
		return fail("hello", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(s.tls); err != nil {
			return fail("starttls", err)
		}
	} else if s.requireTLS {
		return fail("starttls", ErrNoTLS)
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return fail("auth", err)
		}
	}
	if err := c.Mail(s.from); err != nil {
		return fail("mail", err)
	}
	for _, to := range s.to {
		if err := c.Rcpt(to); err != nil {
			return fail("rcpt", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fail("data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fail("data", err)
	}
	if err := w.Close(); err != nil {
		return fail("data", err)
	}
	if err := c.Quit(); err != nil {
		return fail("quit", err)
	}
	return nil
}

// Close makes later Notify calls return secmon.ErrClosed. SMTP holds no
// connection between deliveries, so there is nothing else to release. It
// is idempotent.
func (s *SMTP) Close(ctx context.Context) error {
	s.closed.Store(true)
	return nil
}

// Subject returns the subject line of a's message (before RFC 2047
// encoding): prefix, severity, rule and summary, on one line of at most
// 200 bytes.
func (s *SMTP) Subject(a secmon.Alert) string {
	subj := fmt.Sprintf("%s %s: %s", s.prefix, strings.ToUpper(a.Severity.String()), oneLine(string(a.Rule), 200))
	if a.Summary != "" {
		subj += " - " + oneLine(a.Summary, 200)
	}
	// "=?" would start an RFC 2047 encoded word that mail clients decode
	// for display, smuggling back the characters removed above.
	return oneLine(strings.ReplaceAll(subj, "=?", "= ?"), 200)
}

// message builds the RFC 5322 message with CRLF line endings.
func (s *SMTP) message(a secmon.Alert) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", s.from)
	hdr("To", strings.Join(s.to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", s.Subject(a)))
	hdr("Date", s.clock.Now().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+secmon.NewID().String()+"@secmon>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `text/plain; charset="utf-8"`)
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")

	var text bytes.Buffer
	line := func(k, v string) { fmt.Fprintf(&text, "%-11s %s\r\n", k+":", oneLine(v, 1024)) }
	line("Rule", string(a.Rule))
	line("Subject", a.Subject)
	line("Severity", a.Severity.String())
	if a.Status != "" {
		line("Status", string(a.Status))
	}
	line("Count", fmt.Sprint(a.Count))
	if !a.FirstSeen.IsZero() {
		line("First seen", a.FirstSeen.UTC().Format(time.RFC3339))
	}
	if !a.LastSeen.IsZero() {
		line("Last seen", a.LastSeen.UTC().Format(time.RFC3339))
	}
	line("Summary", a.Summary)
	if a.Action.Kind != "" {
		act := string(a.Action.Kind)
		if a.Action.Duration > 0 {
			act += " for " + a.Action.Duration.String()
		}
		line("Action", act)
	}
	if a.ID != [16]byte{} {
		line("Alert ID", a.ID.String())
	}
	if len(a.Evidence) > 0 {
		text.WriteString("\r\nEvidence:\r\n")
		for _, k := range sortedEvidence(a.Evidence) {
			fmt.Fprintf(&text, "  %s = %s\r\n", oneLine(k, 64), oneLine(a.Evidence[k], 256))
		}
	}
	qp := quotedprintable.NewWriter(&b)
	qp.Write(text.Bytes())
	qp.Close()
	return b.Bytes()
}
