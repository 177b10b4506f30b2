package telemetry

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/ratelimit"
)

// Bounds on the label values a Recorder keeps apart. A value beyond them
// (a host with more policies, a validator inventing threat codes or stage
// names) is counted under Other, so memory and the exposition stay bounded.
const (
	MaxPolicies    = 64
	MaxThreatCodes = 64
	MaxStages      = 32
	// Other is the label value under which values beyond a bound count.
	// Policy names, threat codes and stage names are lower snake_case, so
	// no real one is spelt so.
	Other = "_other"
)

// stageBuckets are the upper bounds, in seconds, of the upload stage
// latency histogram: from 100 µs (a size check) to 2.5 s (a decode gone
// wrong), about three per decade.
var stageBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// degradations are the Decision.Degraded values counted apart, in label
// order; anything else counts as Other.
var degradations = []secmon.Degradation{
	secmon.NotDegraded, secmon.DegradedFailOpen, secmon.DegradedFailClosed, secmon.DegradedLocal, secmon.DegradedKeyCap,
}

// degradedLabel is the label value of degradations[i], then Other.
func degradedLabel(i int) string {
	switch {
	case i >= len(degradations):
		return Other
	case degradations[i] == secmon.NotDegraded:
		return "none"
	}
	return string(degradations[i])
}

func degradedIndex(d secmon.Degradation) int {
	for i, x := range degradations {
		if x == d {
			return i
		}
	}
	return len(degradations)
}

// Upload verdicts, in label order.
const (
	verdictAllowed = iota
	verdictBlocked
	verdictError
	numVerdicts
)

var verdictNames = [numVerdicts]string{"allowed", "blocked", "error"}

// Recorder counts what secmon decides on the request path: rate-limit
// decisions (it is a ratelimit.Observer: set it as
// ratelimit.MiddlewareConfig.Observer) and upload verdicts with the time
// each validation stage took (wrap the validator with Validator, or call
// ObserveUpload). Gather and the metrics module expose its counts.
//
// A Recorder is safe for concurrent use. Observing allocates nothing once
// a policy, threat code or stage has been seen: the counters sit behind
// an atomic pointer to a map that is copied only when a new name appears.
type Recorder struct {
	mu       sync.Mutex // serialises additions to the maps below
	policies atomic.Pointer[map[string]*policyCounts]
	threats  atomic.Pointer[map[string]*atomic.Uint64]
	stages   atomic.Pointer[map[string]*histogram]
	verdicts [numVerdicts]atomic.Uint64
}

// policyCounts are one policy's decisions by outcome and degradation.
type policyCounts struct {
	n [ratelimit.NumOutcomes][6]atomic.Uint64 // degradations plus Other
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

var _ ratelimit.Observer = (*Recorder)(nil)

// ObserveRateLimit counts one request answered by ratelimit.Middleware.
func (r *Recorder) ObserveRateLimit(policy string, outcome ratelimit.Outcome, degraded secmon.Degradation) {
	if int(outcome) >= ratelimit.NumOutcomes {
		return
	}
	c := lookup(&r.policies, &r.mu, policy, MaxPolicies)
	c.n[outcome][degradedIndex(degraded)].Add(1)
}

// ObserveUpload counts one validation: its verdict (error when err is not
// nil, else allowed or blocked), each threat by code, and each stage
// timing in the stage latency histogram.
func (r *Recorder) ObserveUpload(v secmon.Verdict, err error) {
	switch {
	case err != nil:
		r.verdicts[verdictError].Add(1)
	case v.Allowed:
		r.verdicts[verdictAllowed].Add(1)
	default:
		r.verdicts[verdictBlocked].Add(1)
	}
	for _, t := range v.Threats {
		lookup(&r.threats, &r.mu, string(t.Code), MaxThreatCodes).Add(1)
	}
	for _, s := range v.Timings {
		lookup(&r.stages, &r.mu, s.Stage, MaxStages).observe(s.Duration)
	}
}

// Validator returns an UploadValidator that validates with v and observes
// every verdict. Keep v for anything else it offers (upload.Validator's
// Stats, say).
func (r *Recorder) Validator(v secmon.UploadValidator) secmon.UploadValidator {
	return observedValidator{v: v, r: r}
}

type observedValidator struct {
	v secmon.UploadValidator
	r *Recorder
}

func (o observedValidator) Validate(ctx context.Context, f secmon.Upload) (secmon.Verdict, error) {
	vd, err := o.v.Validate(ctx, f)
	o.r.ObserveUpload(vd, err)
	return vd, err
}

// lookup returns the counter for name, adding it (or Other, once max
// names are held) on first sight.
func lookup[V any](p *atomic.Pointer[map[string]*V], mu *sync.Mutex, name string, limit int) *V {
	if m := p.Load(); m != nil {
		if v, ok := (*m)[name]; ok {
			return v
		}
	}
	// A name that is not fit for a label value (invalid UTF-8, too long) is
	// counted under its fitted form; such a name always takes this slower
	// path, which only names a host or a validator got wrong do.
	name = labelValue(name)
	mu.Lock()
	defer mu.Unlock()
	var old map[string]*V
	if m := p.Load(); m != nil {
		old = *m
	}
	if v, ok := old[name]; ok {
		return v
	}
	if len(old) >= limit-1 && name != Other { // keep the last slot for Other
		name = Other
		if v, ok := old[name]; ok {
			return v
		}
	}
	next := make(map[string]*V, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	v := new(V)
	next[name] = v
	p.Store(&next)
	return v
}

// histogram counts durations in stageBuckets, plus one bucket above the
// last bound; the sum is kept in nanoseconds, exactly.
type histogram struct {
	counts [len(stageBuckets) + 1]atomic.Uint64
	sumNS  atomic.Int64
}

// bucketNS are stageBuckets in nanoseconds.
var bucketNS = func() []int64 {
	out := make([]int64, len(stageBuckets))
	for i, b := range stageBuckets {
		out[i] = int64(b * float64(time.Second))
	}
	return out
}()

func (h *histogram) observe(d time.Duration) {
	ns := max(int64(d), 0)
	i := sort.Search(len(bucketNS), func(i int) bool { return ns <= bucketNS[i] })
	h.counts[i].Add(1)
	h.sumNS.Add(ns)
}

// value returns the histogram as cumulative buckets.
func (h *histogram) value() *HistogramValue {
	hv := &HistogramValue{Buckets: make([]Bucket, len(stageBuckets))}
	var cum uint64
	for i, ub := range stageBuckets {
		cum += h.counts[i].Load()
		hv.Buckets[i] = Bucket{UpperBound: ub, Count: cum}
	}
	hv.Count = cum + h.counts[len(stageBuckets)].Load()
	hv.Sum = float64(h.sumNS.Load()) / float64(time.Second)
	return hv
}

// sortedNames returns the keys of the map p points to, sorted.
func sortedNames[V any](p *atomic.Pointer[map[string]*V]) ([]string, map[string]*V) {
	m := p.Load()
	if m == nil {
		return nil, nil
	}
	names := make([]string, 0, len(*m))
	for k := range *m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, *m
}
