// Command uploadscan validates image files the way a secmon host validates
// uploads and prints one JSON verdict per file per line.
//
//	go run ./examples/uploadscan [-declared-type image/png] [-decode] [-reencode] [-max-bytes N] FILE...
//
// Each line is {"file":…,"allowed":bool,"detected_type":…,"threats":[{"code":…,
// "severity":…,"detail":…}],"sanitized_bytes":int,"ms":float}. An allowed
// file may list low-severity threats that its sanitised copy repairs;
// sanitized_bytes is the size of that copy (what a host stores), 0 when
// there is none. The exit status is 0 when every file is allowed (or -h
// asked for the usage), 1 when any is blocked and 2 on a usage error (no
// files, a bad flag, an unreadable file). Strings are printed as they are,
// without JSON's HTML escaping, so a file name or a threat detail holding
// "<?php" reads "<?php".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/upload"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type threat struct {
	Code     string          `json:"code"`
	Severity secmon.Severity `json:"severity"`
	Detail   string          `json:"detail"`
}

type line struct {
	File           string   `json:"file"`
	Allowed        bool     `json:"allowed"`
	DetectedType   string   `json:"detected_type"`
	Threats        []threat `json:"threats"`
	SanitizedBytes int      `json:"sanitized_bytes"`
	MS             float64  `json:"ms"`
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("uploadscan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	declared := fs.String("declared-type", "", "Content-Type to declare for every file (default: none; the extension still counts)")
	decode := fs.Bool("decode", false, "also decode PNG, JPEG and GIF files fully")
	reencode := fs.Bool("reencode", false, "re-encode PNG, JPEG and GIF files (content disarm)")
	maxBytes := fs.Int64("max-bytes", upload.DefaultMaxBytes, "largest file accepted")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: uploadscan [-declared-type T] [-decode] [-reencode] [-max-bytes N] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h or -help: usage was asked for, not a mistake
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *maxBytes <= 0 {
		fmt.Fprintln(stderr, "uploadscan: -max-bytes must be positive")
		return 2
	}
	v, err := upload.NewValidator(upload.Config{Decode: *decode, Reencode: *reencode, MaxBytes: *maxBytes})
	if err != nil {
		fmt.Fprintln(stderr, "uploadscan:", err)
		return 2
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false) // the lines are read in terminals and by jq, never embedded in HTML: "<?php", not "\u003c?php"
	status := 0
	for _, name := range fs.Args() {
		data, err := readFile(name, *maxBytes+1)
		if err != nil {
			fmt.Fprintln(stderr, "uploadscan:", err)
			status = 2
			continue
		}
		vd, err := v.Validate(context.Background(), secmon.Upload{Name: name, DeclaredType: *declared, Data: data})
		if err != nil {
			fmt.Fprintf(stderr, "uploadscan: %s: %v\n", name, err)
		}
		out := line{File: name, Allowed: vd.Allowed, DetectedType: vd.DetectedType, Threats: []threat{}, SanitizedBytes: len(vd.Sanitized)}
		for _, t := range vd.Threats {
			out.Threats = append(out.Threats, threat{string(t.Code), t.Severity, t.Detail})
		}
		for _, s := range vd.Timings {
			if s.Stage == upload.StageTotal {
				out.MS = float64(s.Duration) / float64(time.Millisecond)
			}
		}
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(stderr, "uploadscan:", err)
			return 2
		}
		if !vd.Allowed && status == 0 {
			status = 1
		}
	}
	return status
}

// readFile reads at most limit bytes: enough for the validator to see that
// a larger file is too large without holding all of it.
func readFile(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, errors.New(name + " is a directory")
	}
	return io.ReadAll(io.LimitReader(f, limit))
}
