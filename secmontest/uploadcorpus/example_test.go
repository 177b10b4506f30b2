package uploadcorpus_test

import (
	"context"
	"fmt"
	"slices"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
	"github.com/secmon-go/secmon/upload"
)

// A host checks its validator against the whole corpus.
func Example() {
	v, err := upload.NewValidator(upload.Config{})
	if err != nil {
		panic(err)
	}
	cases := append(append(uploadcorpus.Hostile(), uploadcorpus.Benign()...), uploadcorpus.Repairable()...)
	failures := 0
	for _, c := range cases {
		verdict, err := v.Validate(context.Background(), c.Upload)
		if err != nil || verdict.Allowed != c.WantAllowed {
			failures++
			continue
		}
		for _, code := range c.WantCodes {
			if !slices.ContainsFunc(verdict.Threats, func(t secmon.Threat) bool { return t.Code == code }) {
				failures++
			}
		}
	}
	fmt.Printf("%d hostile, %d benign, %d repairable, %d failures\n", len(uploadcorpus.Hostile()), len(uploadcorpus.Benign()), len(uploadcorpus.Repairable()), failures)
	// Output: 89 hostile, 15 benign, 5 repairable, 0 failures
}
