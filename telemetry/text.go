package telemetry

import (
	"bufio"
	"cmp"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// ContentType is the media type of WriteText's output: the Prometheus text
// exposition format, version 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteText writes fams in the Prometheus text exposition format: a HELP
// and a TYPE line per family, then its samples (a histogram as its _bucket
// series with le labels, _sum and _count), labels sorted by name. Label values and help texts are
// escaped as the format requires, so a rule name or policy name holding a
// quote, a backslash or a newline cannot break a line.
func WriteText(w io.Writer, fams []Family) error {
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		bw.WriteString("# HELP " + f.Name + " " + escapeHelp(f.Help) + "\n")
		bw.WriteString("# TYPE " + f.Name + " " + f.Kind.String() + "\n")
		for _, s := range f.Samples {
			if f.Kind == Histogram {
				h := s.Histogram
				if h == nil {
					h = &HistogramValue{}
				}
				for _, b := range h.Buckets {
					writeSample(bw, f.Name+"_bucket", f.LabelNames, s.LabelValues, "le", formatFloat(b.UpperBound), float64(b.Count))
				}
				writeSample(bw, f.Name+"_bucket", f.LabelNames, s.LabelValues, "le", "+Inf", float64(h.Count))
				writeSample(bw, f.Name+"_sum", f.LabelNames, s.LabelValues, "", "", h.Sum)
				writeSample(bw, f.Name+"_count", f.LabelNames, s.LabelValues, "", "", float64(h.Count))
				continue
			}
			writeSample(bw, f.Name, f.LabelNames, s.LabelValues, "", "", s.Value)
		}
	}
	return bw.Flush()
}

// writeSample writes one sample line. Labels are written sorted by name,
// then le, as client_golang writes them, so the two expositions of one
// family read the same.
func writeSample(w *bufio.Writer, name string, names, values []string, extraName, extraValue string, v float64) {
	w.WriteString(name)
	n := 0
	label := func(k, v string) {
		if n == 0 {
			w.WriteByte('{')
		} else {
			w.WriteByte(',')
		}
		n++
		w.WriteString(k + `="` + escapeLabel(v) + `"`)
	}
	order := make([]int, len(names))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(names[a], names[b]) })
	for _, i := range order {
		var v string
		if i < len(values) {
			v = values[i]
		}
		label(names[i], v)
	}
	if extraName != "" {
		label(extraName, extraValue)
	}
	if n > 0 {
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Handler serves Gather(src) in the text exposition format, for a /metrics
// route. It answers GET and HEAD; anything else is 405. Put it behind the
// host's own access control if the figures are not for everyone.
func Handler(src Sources) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		_ = WriteText(w, Gather(src))
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// sortedKeys returns m's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
