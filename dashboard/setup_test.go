package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/dashboard"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/store/pgstore"
	"github.com/secmon-go/secmon/upload"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(testenv.M(m)) }

// Test principals: the Authorize of these tests reads them from headers.
const (
	hdrUser = "X-Test-User"
	hdrRole = "X-Test-Role"
)

func testAuthorize(r *http.Request) (string, dashboard.Role, bool) {
	who := r.Header.Get(hdrUser)
	switch r.Header.Get(hdrRole) {
	case "admin":
		return who, dashboard.RoleAdmin, true
	case "viewer":
		return who, dashboard.RoleViewer, true
	case "bogus":
		return who, dashboard.Role(9), true
	}
	return "", 0, false
}

// backends are the stores every handler test runs against.
var backends = []string{"memory", "postgres"}

// env is a dashboard over a real store and Monitor.
type env struct {
	t       testing.TB
	store   secmon.Store
	mon     *secmon.Monitor
	guard   *guard.Guard
	guards  *failableGuard // the dashboard's Guard: the real one, failable
	tracker *upload.Tracker
	clock   secmon.Clock
	cfg     dashboard.Config
	h       http.Handler
	srv     *httptest.Server
}

type envOpts struct {
	clock    secmon.Clock
	noGuard  bool
	readOnly bool
	noServer bool
	detector func(engine secmon.Detector) secmon.Detector // wraps the default rules
	cfg      func(*dashboard.Config)
	wrap     func(http.Handler) http.Handler // around the mounted dashboard
}

// newStore returns a fresh store of the backend; PostgreSQL tests get a
// migrated schema of their own with partitions around now.
func newStore(t testing.TB, backend string, now time.Time) secmon.Store {
	t.Helper()
	switch backend {
	case "memory":
		return memstore.New()
	case "postgres":
		pool := sqlschematest.Pool(t)
		s, err := pgstore.New(pool, pgstore.Config{Schema: sqlschematest.NewSchema(t, pool), StatementTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Maintain(context.Background(), now.Add(-48*time.Hour), secmon.RetentionPolicy{Events: -1}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Fatalf("unknown backend %q", backend)
	return nil
}

func newEnv(t testing.TB, backend string, o envOpts) *env {
	t.Helper()
	clock := o.clock
	if clock == nil {
		clock = secmon.SystemClock{}
	}
	e := &env{t: t, clock: clock}
	e.store = newStore(t, backend, clock.Now())
	engine, err := detect.New(detect.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var det secmon.Detector = engine
	if o.detector != nil {
		det = o.detector(engine)
	}
	e.mon, err = secmon.New(secmon.Config{Store: e.store, Detector: det, Clock: clock, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.mon.Close(ctx); err != nil {
			t.Errorf("closing the Monitor: %v", err)
		}
	})
	e.tracker, err = upload.NewTracker(upload.TrackerConfig{SlowStage: -1})
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = dashboard.Config{
		Authorize: testAuthorize, Store: e.store, Logger: e.mon, Uploads: e.tracker, Clock: clock,
		ReadOnly: o.readOnly, LiveInterval: 50 * time.Millisecond, CSRFKey: []byte(strings.Repeat("k", 32)),
	}
	if !o.noGuard {
		e.guard, err = guard.New(guard.Config{Store: e.store, Events: e.mon, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // before the Monitor's: the guard logs into it
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := e.guard.Close(ctx); err != nil {
				t.Errorf("closing the guard: %v", err)
			}
		})
		e.guards = &failableGuard{Guard: e.guard}
		e.cfg.Guard = e.guards
	}
	if o.cfg != nil {
		o.cfg(&e.cfg)
	}
	e.h, err = dashboard.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.h.(io.Closer).Close() })
	if !o.noServer {
		mux := http.NewServeMux()
		var h http.Handler = http.StripPrefix("/admin", e.h)
		if o.wrap != nil {
			h = o.wrap(h)
		}
		mux.Handle("/admin/", h)
		e.srv = httptest.NewServer(mux)
		t.Cleanup(e.srv.Close)
	}
	return e
}

// flush writes what the Monitor queued.
func (e *env) flush() {
	e.t.Helper()
	if err := e.mon.Flush(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// response is a recorded answer.
type response struct {
	code   int
	header http.Header
	body   string
}

// do sends a request through the handler, as role ("" for none).
func (e *env) do(method, target, role string, form url.Values, hdr ...string) response {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, "http://dash.test"+target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if role != "" {
		r.Header.Set(hdrUser, role+"-person")
		r.Header.Set(hdrRole, role)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return response{code: w.Code, header: w.Header(), body: w.Body.String()}
}

func (e *env) get(target, role string) response {
	e.t.Helper()
	return e.do(http.MethodGet, target, role, nil)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads an anti-forgery token from a page rendered for role.
func (e *env) csrf(page, role string) string {
	e.t.Helper()
	res := e.get(page, role)
	m := csrfRE.FindStringSubmatch(res.body)
	if m == nil {
		e.t.Fatalf("no anti-forgery token on %s for %s (status %d)", page, role, res.code)
	}
	return m[1]
}

// post submits a form as role with a valid token.
func (e *env) post(target, role string, form url.Values) response {
	e.t.Helper()
	form.Set("csrf", e.csrf("/alerts", role))
	return e.do(http.MethodPost, target, role, form)
}

// events returns the stored events of type typ.
func (e *env) events(typ secmon.EventType) []secmon.Event {
	e.t.Helper()
	e.flush()
	evs, err := e.store.QueryEvents(context.Background(), secmon.EventQuery{Types: []secmon.EventType{typ}, Limit: secmon.MaxQueryLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func mustContain(t testing.TB, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func mustNotContain(t testing.TB, what, body string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(body, w) {
			t.Errorf("%s contains %q", what, w)
		}
	}
}
