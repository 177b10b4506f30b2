package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secmon-go/secmon/telemetry"
)

// Config names what a Collector reports on. Nil fields are left out, with
// their metrics.
type Config struct {
	// Monitor is read at each scrape: *secmon.Monitor.
	Monitor telemetry.StatsSource
	// Recorder counts rate-limit decisions and upload verdicts; set it as
	// ratelimit.MiddlewareConfig.Observer and wrap the upload validator
	// with Recorder.Validator.
	Recorder *telemetry.Recorder
	// Guard, when set, returns an active-response guard's counters at each
	// scrape: guard.(*Guard).TelemetryStats.
	Guard func() telemetry.GuardStats
}

// Collector is a prometheus.Collector over secmon's metrics. Every scrape
// reads the sources once (telemetry.Gather) and reports the figures as
// constant metrics. It is safe for concurrent use.
type Collector struct {
	src   telemetry.Sources
	descs map[string]*prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector for cfg. It reads the sources once to
// learn the families they report.
func NewCollector(cfg Config) *Collector {
	c := &Collector{
		src:   telemetry.Sources{Monitor: cfg.Monitor, Recorder: cfg.Recorder, Guard: cfg.Guard},
		descs: map[string]*prometheus.Desc{},
	}
	for _, f := range telemetry.Gather(c.src) {
		c.descs[f.Name] = prometheus.NewDesc(f.Name, f.Help, f.LabelNames, nil)
	}
	return c
}

// Describe sends the description of every family the sources report.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// errUnknownFamily reports a family Gather returned at a scrape but not
// when the Collector was made; telemetry promises it never happens.
var errUnknownFamily = errors.New("metrics: a family appeared after NewCollector")

// Collect reads the sources and sends their figures.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range telemetry.Gather(c.src) {
		desc, ok := c.descs[f.Name]
		if !ok {
			ch <- prometheus.NewInvalidMetric(prometheus.NewDesc(f.Name, f.Help, f.LabelNames, nil), errUnknownFamily)
			continue
		}
		for _, s := range f.Samples {
			var (
				m   prometheus.Metric
				err error
			)
			switch f.Kind {
			case telemetry.Counter:
				m, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, s.Value, s.LabelValues...)
			case telemetry.Gauge:
				m, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, s.Value, s.LabelValues...)
			case telemetry.Histogram:
				h := s.Histogram
				if h == nil {
					h = &telemetry.HistogramValue{}
				}
				buckets := make(map[float64]uint64, len(h.Buckets))
				for _, b := range h.Buckets {
					buckets[b.UpperBound] = b.Count
				}
				m, err = prometheus.NewConstHistogram(desc, h.Count, h.Sum, buckets, s.LabelValues...)
			}
			if err != nil {
				m = prometheus.NewInvalidMetric(desc, err)
			}
			ch <- m
		}
	}
}
