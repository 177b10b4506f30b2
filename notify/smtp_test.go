package notify_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/smtp"
	"strings"
	"sync"
	"testing"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/notify"
)

// smtpServer is a minimal SMTP server on loopback: EHLO/HELO, MAIL, RCPT,
// DATA, RSET, NOOP, QUIT. It records each transaction.
type smtpServer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	mails    []recordedMail
	ehlo     string      // extra EHLO lines, e.g. "STARTTLS"
	rejectTo string      // RCPT address answered with 550
	tls      *tls.Config // when set, STARTTLS and AUTH PLAIN are offered
	auths    []string    // decoded AUTH PLAIN responses
	tlsUsed  []bool      // per mail: was the session encrypted
}

type recordedMail struct {
	from string
	to   []string
	data string
}

func newSMTPServer(t *testing.T, configure func(*smtpServer)) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	if configure != nil {
		configure(s)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpServer) addr() string { return s.ln.Addr().String() }

func (s *smtpServer) received() []recordedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recordedMail(nil), s.mails...)
}

func (s *smtpServer) serve(c net.Conn) {
	defer func() { c.Close() }()
	r := bufio.NewReader(c)
	reply := func(line string) { io.WriteString(c, line+"\r\n") }
	reply("220 test.local ESMTP")
	var cur recordedMail
	encrypted := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(verb, "EHLO") && s.tls != nil:
			reply("250-test.local")
			if encrypted {
				reply("250 AUTH PLAIN")
			} else {
				reply("250 STARTTLS")
			}
		case verb == "STARTTLS" && s.tls != nil:
			reply("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, r, encrypted = tc, bufio.NewReader(tc), true
		case strings.HasPrefix(verb, "AUTH PLAIN ") && encrypted:
			dec, err := base64.StdEncoding.DecodeString(line[len("AUTH PLAIN "):])
			if err != nil {
				reply("501 bad base64")
				continue
			}
			s.mu.Lock()
			s.auths = append(s.auths, string(dec))
			s.mu.Unlock()
			reply("235 ok")
		case strings.HasPrefix(verb, "EHLO"):
			if s.ehlo != "" {
				reply("250-test.local")
				reply("250 " + s.ehlo)
			} else {
				reply("250 test.local")
			}
		case strings.HasPrefix(verb, "HELO"):
			reply("250 test.local")
		case strings.HasPrefix(verb, "MAIL FROM:"):
			cur = recordedMail{from: strings.Trim(line[len("MAIL FROM:"):], "<> ")}
			reply("250 ok")
		case strings.HasPrefix(verb, "RCPT TO:"):
			to := strings.Trim(line[len("RCPT TO:"):], "<> ")
			if to == s.rejectTo {
				reply("550 no such user")
				continue
			}
			cur.to = append(cur.to, to)
			reply("250 ok")
		case verb == "DATA":
			reply("354 go ahead")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				l = strings.TrimPrefix(l, ".") // undo dot-stuffing
				data.WriteString(l)
			}
			cur.data = data.String()
			s.mu.Lock()
			s.mails = append(s.mails, cur)
			s.tlsUsed = append(s.tlsUsed, encrypted)
			s.mu.Unlock()
			reply("250 queued")
		case verb == "RSET" || verb == "NOOP":
			reply("250 ok")
		case verb == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

func newSMTP(t *testing.T, cfg notify.SMTPConfig) *notify.SMTP {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "secmon@example.com"
	}
	if cfg.To == nil {
		cfg.To = []string{"oncall@example.com", "security@example.com"}
	}
	cfg.Clock = fixedClock(t0)
	n, err := notify.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSMTPDelivers(t *testing.T) {
	t.Parallel()
	srv := newSMTPServer(t, nil)
	n := newSMTP(t, notify.SMTPConfig{Addr: srv.addr()})
	a := alert(secmon.SeverityCritical)
	a.Summary = "Zürich login\r\nBcc: attacker@evil.example\r\n\r\nfake body"
	a.Evidence["note"] = "line\r\n.\r\nQUIT"
	if err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	mails := srv.received()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	m := mails[0]
	if m.from != "secmon@example.com" || strings.Join(m.to, ",") != "oncall@example.com,security@example.com" {
		t.Errorf("envelope %q -> %q", m.from, m.to)
	}
	msg, err := mail.ReadMessage(strings.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"From": true, "To": true, "Subject": true, "Date": true, "Message-Id": true,
		"Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true, "Auto-Submitted": true}
	for k := range msg.Header {
		if !allowed[k] {
			t.Errorf("unexpected header %q (injected?)", k)
		}
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[secmon] CRITICAL: brute_force_ip - Zürich login  Bcc: attacker@evil.example    fake body"; subj != want {
		t.Errorf("Subject %q, want %q", subj, want)
	}
	if msg.Header.Get("Date") != t0.Format("Mon, 02 Jan 2006 15:04:05 -0700") {
		t.Errorf("Date %q", msg.Header.Get("Date"))
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Rule:       brute_force_ip", "Subject:    ip:203.0.113.7/32", "Count:      3", "Action:     block for 15m0s", "failures = 42", "note = line  .  QUIT"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestSMTPStartTLSAndAuth(t *testing.T) {
	t.Parallel()
	// Borrow httptest's self-signed certificate for 127.0.0.1.
	hs := httptest.NewTLSServer(http.NotFoundHandler())
	serverTLS := hs.TLS.Clone()
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())
	hs.Close()

	srv := newSMTPServer(t, func(s *smtpServer) { s.tls = serverTLS })
	n := newSMTP(t, notify.SMTPConfig{
		Addr:       srv.addr(),
		TLS:        &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
		Auth:       smtp.PlainAuth("", "mailer", "s3cret-pass", "127.0.0.1"),
		RequireTLS: true,
	})
	if err := n.Notify(context.Background(), alert(secmon.SeverityCritical)); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.mails) != 1 || !srv.tlsUsed[0] {
		t.Fatalf("mails %d, encrypted %v", len(srv.mails), srv.tlsUsed)
	}
	if len(srv.auths) != 1 || srv.auths[0] != "\x00mailer\x00s3cret-pass" {
		t.Errorf("AUTH PLAIN %q", srv.auths)
	}

	// A certificate the client does not trust stops the delivery before
	// anything is sent.
	untrusted := newSMTP(t, notify.SMTPConfig{Addr: srv.addr()})
	err := untrusted.Notify(context.Background(), alert(secmon.SeverityCritical))
	var se *notify.SMTPError
	if !errors.As(err, &se) || se.Stage != "starttls" {
		t.Errorf("untrusted certificate: %v", err)
	}
	if strings.Contains(fmt.Sprint(err), "s3cret-pass") {
		t.Errorf("error leaks the password: %v", err)
	}

	// A config without ServerName still verifies the certificate, against
	// the host of Addr, instead of failing every handshake.
	noName := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	n = newSMTP(t, notify.SMTPConfig{Addr: srv.addr(), TLS: noName, RequireTLS: true})
	srv.mu.Unlock()
	err = n.Notify(context.Background(), alert(secmon.SeverityCritical))
	srv.mu.Lock()
	if err != nil {
		t.Errorf("TLS config without ServerName: %v", err)
	}
	if noName.ServerName != "" {
		t.Error("the caller's TLS config was modified")
	}
}

func TestSMTPFailures(t *testing.T) {
	t.Parallel()
	t.Run("rejected recipient", func(t *testing.T) {
		t.Parallel()
		srv := newSMTPServer(t, func(s *smtpServer) { s.rejectTo = "security@example.com" })
		err := newSMTP(t, notify.SMTPConfig{Addr: srv.addr()}).Notify(context.Background(), alert(secmon.SeverityCritical))
		var se *notify.SMTPError
		if !errors.As(err, &se) || se.Stage != "rcpt" {
			t.Fatalf("error %v, want rcpt stage", err)
		}
		if len(srv.received()) != 0 {
			t.Error("mail sent despite the rejected recipient")
		}
	})
	t.Run("tls required", func(t *testing.T) {
		t.Parallel()
		srv := newSMTPServer(t, nil)
		err := newSMTP(t, notify.SMTPConfig{Addr: srv.addr(), RequireTLS: true}).Notify(context.Background(), alert(secmon.SeverityCritical))
		if !errors.Is(err, notify.ErrNoTLS) || len(srv.received()) != 0 {
			t.Fatalf("error %v, want ErrNoTLS and nothing sent", err)
		}
	})
	t.Run("starttls offered and failing", func(t *testing.T) {
		t.Parallel()
		srv := newSMTPServer(t, func(s *smtpServer) { s.ehlo = "STARTTLS" })
		err := newSMTP(t, notify.SMTPConfig{Addr: srv.addr()}).Notify(context.Background(), alert(secmon.SeverityCritical))
		var se *notify.SMTPError
		if !errors.As(err, &se) || se.Stage != "starttls" || len(srv.received()) != 0 {
			t.Fatalf("error %v, want starttls stage and nothing sent", err)
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		err = newSMTP(t, notify.SMTPConfig{Addr: addr}).Notify(context.Background(), alert(secmon.SeverityCritical))
		var se *notify.SMTPError
		if !errors.As(err, &se) || se.Stage != "dial" {
			t.Fatalf("error %v, want dial stage", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		n := newSMTP(t, notify.SMTPConfig{Addr: "127.0.0.1:1"})
		n.Close(context.Background())
		n.Close(context.Background())
		if err := n.Notify(context.Background(), alert(secmon.SeverityCritical)); !errors.Is(err, secmon.ErrClosed) {
			t.Errorf("after Close: %v", err)
		}
	})
}

func TestSMTPConfig(t *testing.T) {
	t.Parallel()
	ok := notify.SMTPConfig{Addr: "mail.example.com:25", From: "a@example.com", To: []string{"b@example.com"}}
	tests := []struct {
		name   string
		mutate func(*notify.SMTPConfig)
		field  string
	}{
		{"no addr", func(c *notify.SMTPConfig) { c.Addr = "" }, "SMTPConfig.Addr"},
		{"addr without port", func(c *notify.SMTPConfig) { c.Addr = "mail.example.com" }, "SMTPConfig.Addr"},
		{"from with crlf", func(c *notify.SMTPConfig) { c.From = "a@example.com\r\nBcc: x@evil.example" }, "SMTPConfig.From"},
		{"from with name", func(c *notify.SMTPConfig) { c.From = "Alice <a@example.com>" }, "SMTPConfig.From"},
		{"no recipients", func(c *notify.SMTPConfig) { c.To = nil }, "SMTPConfig.To"},
		{"bad recipient", func(c *notify.SMTPConfig) { c.To = []string{"b@example.com", "x\n@y"} }, "SMTPConfig.To[1]"},
		{"two in one", func(c *notify.SMTPConfig) { c.To = []string{"b@example.com, c@example.com"} }, "SMTPConfig.To[0]"},
		{"prefix with newline", func(c *notify.SMTPConfig) { c.SubjectPrefix = "x\nBcc: y" }, "SMTPConfig"},
	}
	for _, tt := range tests {
		cfg := ok
		cfg.To = append([]string(nil), ok.To...)
		tt.mutate(&cfg)
		_, err := notify.NewSMTP(cfg)
		var fe *secmon.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: %v, want a FieldError on %s", tt.name, err, tt.field)
		}
	}
	if _, err := notify.NewSMTP(ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func FuzzSMTPSubject(f *testing.F) {
	f.Add("brute_force_ip", "42 failed\r\nBcc: x@evil.example")
	f.Add("r", "\u2028\x00é\xff")
	f.Add("r", "paid =?utf-8?q?=E2=80=AEevil?= now")
	f.Add("\u202erule", "a\u200bb\ufeff")
	n, err := notify.NewSMTP(notify.SMTPConfig{Addr: "h:25", From: "a@example.com", To: []string{"b@example.com"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rule, summary string) {
		s := n.Subject(secmon.Alert{Rule: secmon.RuleName(rule), Summary: summary, Severity: secmon.SeverityCritical})
		if len(s) > 200 || strings.ContainsAny(s, "\r\n") {
			t.Fatalf("subject %q", s)
		}
		if strings.ContainsAny(s, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200e\u200f\ufeff") {
			t.Fatalf("bidirectional or invisible character in subject %q", s)
		}
		enc := mime.QEncoding.Encode("utf-8", s)
		if strings.ContainsAny(enc, "\r\n") {
			t.Fatalf("encoded subject %q", enc)
		}
		// A mail client shows the subject decoded: alert text must not
		// smuggle in encoded words of its own.
		if dec, err := new(mime.WordDecoder).DecodeHeader(enc); err != nil || dec != s {
			t.Fatalf("subject %q reads %q, %v", s, dec, err)
		}
	})
}
