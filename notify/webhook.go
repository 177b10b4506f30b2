package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/secmon-go/secmon"
)

// Header names of a webhook delivery.
const (
	// HeaderSignature carries "sha256=" and the hexadecimal
	// HMAC-SHA256(secret, timestamp + "." + delivery + "." + body) (see
	// Sign).
	HeaderSignature = "X-Secmon-Signature"
	// HeaderTimestamp carries the Unix time in seconds at which the
	// attempt was signed. It is part of the MAC, so a captured request
	// cannot be replayed later than the receiver's tolerance.
	HeaderTimestamp = "X-Secmon-Timestamp"
	// HeaderDelivery carries an identifier that stays the same across the
	// retries of one delivery, so receivers can drop duplicates. It is part
	// of the MAC, so a replay cannot pass as a new delivery.
	HeaderDelivery = "X-Secmon-Delivery"
)

// Webhook defaults and limits.
const (
	DefaultWebhookTimeout     = 5 * time.Second
	DefaultWebhookAttempts    = 3
	MaxWebhookAttempts        = 10
	DefaultWebhookBackoff     = 500 * time.Millisecond
	DefaultWebhookMaxBackoff  = 30 * time.Second
	MinWebhookSecretLen       = 16
	DefaultSignatureTolerance = 5 * time.Minute
)

// WebhookConfig configures a Webhook. Zero fields mean the documented
// defaults.
type WebhookConfig struct {
	// URL is the absolute http or https endpoint. Required. It may carry a
	// token (many chat webhooks do); it is never printed in errors, only
	// its scheme and host are.
	URL string
	// Secret signs every request (HeaderSignature). Required, at least
	// MinWebhookSecretLen bytes; share it with the receiver only.
	Secret []byte
	// Timeout bounds each attempt. Default DefaultWebhookTimeout.
	Timeout time.Duration
	// MaxAttempts is how many times a delivery is tried: network errors
	// and 5xx responses are retried, 4xx responses are not. Default
	// DefaultWebhookAttempts; 1 disables retries; at most
	// MaxWebhookAttempts.
	MaxAttempts int
	// Backoff is the wait before the first retry; it doubles on each retry
	// up to MaxBackoff, with up to 20% random jitter. Defaults
	// DefaultWebhookBackoff and DefaultWebhookMaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Header holds extra request headers (for example an Authorization
	// header the receiver expects). The signature headers cannot be
	// overridden.
	Header http.Header
	// Client sends the requests. Nil means a client owned by the Webhook
	// that does not follow redirects (a redirected POST would lose its
	// body and could leak the delivery elsewhere); Close releases its idle
	// connections.
	Client *http.Client
	// Clock stamps HeaderTimestamp. Nil means the system clock.
	Clock secmon.Clock
}

// Webhook posts each alert as JSON (Payload) to a URL, signed with
// HMAC-SHA256. A Webhook is safe for concurrent use.
type Webhook struct {
	url        string
	target     string // scheme://host, safe to print
	secret     []byte
	timeout    time.Duration
	attempts   int
	backoff    time.Duration
	maxBackoff time.Duration
	header     http.Header
	client     *http.Client
	owned      *http.Transport
	clock      secmon.Clock
	closed     atomic.Bool
}

var _ secmon.Notifier = (*Webhook)(nil)

// NewWebhook checks cfg and returns a Webhook.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &secmon.FieldError{Field: "WebhookConfig.URL", Reason: "must be an absolute http or https URL"}
	}
	if len(cfg.Secret) < MinWebhookSecretLen {
		return nil, &secmon.FieldError{Field: "WebhookConfig.Secret", Reason: fmt.Sprintf("must hold at least %d bytes", MinWebhookSecretLen)}
	}
	if cfg.Timeout < 0 || cfg.Backoff < 0 || cfg.MaxBackoff < 0 {
		return nil, &secmon.FieldError{Field: "WebhookConfig", Reason: "durations must not be negative"}
	}
	if cfg.MaxAttempts < 0 || cfg.MaxAttempts > MaxWebhookAttempts {
		return nil, &secmon.FieldError{Field: "WebhookConfig.MaxAttempts", Reason: fmt.Sprintf("must be between 0 and %d", MaxWebhookAttempts)}
	}
	w := &Webhook{
		url:        cfg.URL,
		target:     u.Scheme + "://" + u.Host,
		secret:     bytes.Clone(cfg.Secret),
		timeout:    orDefault(cfg.Timeout, DefaultWebhookTimeout),
		attempts:   cfg.MaxAttempts,
		backoff:    orDefault(cfg.Backoff, DefaultWebhookBackoff),
		maxBackoff: orDefault(cfg.MaxBackoff, DefaultWebhookMaxBackoff),
		header:     cfg.Header.Clone(),
		client:     cfg.Client,
		clock:      cfg.Clock,
	}
	if w.attempts == 0 {
		w.attempts = DefaultWebhookAttempts
	}
	if w.clock == nil {
		w.clock = secmon.SystemClock{}
	}
	if w.client == nil {
		w.owned = http.DefaultTransport.(*http.Transport).Clone()
		w.client = &http.Client{
			Transport:     w.owned,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return w, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// WebhookError reports a delivery that failed. It never contains the
// secret or the URL's path and query.
type WebhookError struct {
	Target     string // scheme://host of the endpoint
	Attempts   int    // attempts made
	StatusCode int    // last HTTP status, 0 when no response was received
	Err        error  // last transport error, if any
}

// Error names the endpoint (scheme and host only), the last status or
// transport error, and the attempts made.
func (e *WebhookError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("notify: webhook %s answered %d %s after %d attempt(s)", e.Target, e.StatusCode, http.StatusText(e.StatusCode), e.Attempts)
	}
	return fmt.Sprintf("notify: webhook %s failed after %d attempt(s): %v", e.Target, e.Attempts, e.Err)
}

// Unwrap returns the last transport error.
func (e *WebhookError) Unwrap() error { return e.Err }

// Notify posts a. It retries network errors and 5xx responses up to
// MaxAttempts with backoff, never 4xx responses, and gives up early when
// ctx ends. Every attempt is signed afresh with the current time; all
// attempts carry the same HeaderDelivery. A non-2xx answer or a transport
// failure is a *WebhookError.
func (w *Webhook) Notify(ctx context.Context, a secmon.Alert) error {
	if w.closed.Load() {
		return secmon.ErrClosed
	}
	body, err := json.Marshal(NewPayload(a)) // bounded: see Payload
	if err != nil {
		return fmt.Errorf("notify: encoding alert: %w", err)
	}
	delivery := secmon.NewID().String()
	werr := &WebhookError{Target: w.target}
	wait := w.backoff
	for attempt := 1; ; attempt++ {
		werr.Attempts = attempt
		status, err := w.post(ctx, body, delivery)
		werr.StatusCode, werr.Err = status, err
		switch {
		case err == nil && status >= 200 && status < 300:
			return nil
		case err == nil && status < 500:
			return werr // 1xx, 3xx and 4xx: retrying will not help
		case attempt >= w.attempts:
			return werr
		}
		jittered := wait + time.Duration(rand.Int64N(int64(wait)/5+1))
		t := time.NewTimer(jittered)
		select {
		case <-ctx.Done():
			t.Stop()
			if werr.Err == nil {
				werr.Err = ctx.Err()
			}
			return werr
		case <-t.C:
		}
		wait = min(wait*2, w.maxBackoff)
	}
}

// post makes one attempt and returns the status code.
func (w *Webhook) post(ctx context.Context, body []byte, delivery string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("cannot build request")
	}
	for k, vs := range w.header {
		req.Header[k] = vs
	}
	ts := strconv.FormatInt(w.clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "secmon-webhook/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderDelivery, delivery)
	req.Header.Set(HeaderSignature, Sign(w.secret, ts, delivery, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, redactURLError(err)
	}
	// Drain a bounded amount so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// redactURLError drops the URL, which may hold a token, from a client error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Close releases the idle connections of the Webhook's own client and
// makes later Notify calls return secmon.ErrClosed. It is idempotent.
func (w *Webhook) Close(ctx context.Context) error {
	if w.closed.Swap(true) {
		return nil
	}
	if w.owned != nil {
		w.owned.CloseIdleConnections()
	}
	return nil
}

// Sign returns the HeaderSignature value for a body signed at timestamp
// (the HeaderTimestamp value) as delivery (the HeaderDelivery value):
// "sha256=" followed by the hexadecimal HMAC-SHA256(secret, timestamp + "."
// + delivery + "." + body). Neither timestamp nor delivery may contain a
// dot, so the three parts cannot be shifted into one another.
func Sign(secret []byte, timestamp, delivery string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write([]byte(delivery))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Errors of VerifySignature.
var (
	ErrBadSignature = errors.New("notify: webhook signature does not match")
	ErrStale        = errors.New("notify: webhook timestamp outside tolerance")
	// ErrWeakSecret is returned for a secret shorter than
	// MinWebhookSecretLen: with an empty one (an unset environment
	// variable, say) anyone could sign a delivery.
	ErrWeakSecret = errors.New("notify: webhook secret too short to verify with")
)

// VerifySignature checks a webhook delivery as a receiver: header holds the
// request's headers, body its bytes. The signature must match (compared in
// constant time) and the timestamp must be within tolerance of now
// (DefaultSignatureTolerance when tolerance is zero), which stops replays
// after the window. Within it, receivers drop repeated HeaderDelivery
// values: the delivery ID is signed, so a replay cannot change it. A
// secret shorter than MinWebhookSecretLen is refused with ErrWeakSecret.
func VerifySignature(secret []byte, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) < MinWebhookSecretLen {
		return ErrWeakSecret
	}
	if tolerance <= 0 {
		tolerance = DefaultSignatureTolerance
	}
	ts := header.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strings.IndexByte(ts, '.') >= 0 {
		return ErrStale
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	delivery := header.Get(HeaderDelivery)
	if strings.IndexByte(delivery, '.') >= 0 {
		return ErrBadSignature
	}
	want := Sign(secret, ts, delivery, body)
	if !hmac.Equal([]byte(want), []byte(header.Get(HeaderSignature))) {
		return ErrBadSignature
	}
	return nil
}
