package upload_test

import (
	"context"
	"fmt"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
	"github.com/secmon-go/secmon/upload"
)

func ExampleValidator_Validate() {
	v, err := upload.NewValidator(upload.Config{})
	if err != nil {
		panic(err)
	}
	for _, c := range uploadcorpus.Hostile() {
		switch c.Name {
		case "png_html_appended", "jpeg_exif_script", "gif_js_polyglot", "pe_executable_as_png":
		default:
			continue
		}
		verdict, err := v.Validate(context.Background(), c.Upload)
		if err != nil {
			panic(err)
		}
		var codes []string
		for _, t := range verdict.Threats {
			codes = append(codes, string(t.Code)+"/"+t.Severity.String())
		}
		fmt.Printf("%s: allowed=%v %v sanitised=%v\n", c.Name, verdict.Allowed, codes, verdict.Sanitized != nil)
	}
	// Output:
	// pe_executable_as_png: allowed=false [type_mismatch/high disallowed_type/critical] sanitised=false
	// jpeg_exif_script: allowed=false [script_in_metadata/high] sanitised=true
	// png_html_appended: allowed=false [trailing_data/medium html_content/high] sanitised=true
	// gif_js_polyglot: allowed=false [polyglot/critical trailing_data/medium] sanitised=false
}

func ExampleNewValidator() {
	v, err := upload.NewValidator(upload.Config{
		MaxBytes:     2 << 20,
		AllowedTypes: []string{upload.TypePNG},
	})
	if err != nil {
		panic(err)
	}
	png := uploadcorpus.Benign()[0].Upload
	verdict, _ := v.Validate(context.Background(), secmon.Upload{Name: "chart.png", DeclaredType: "image/png", Data: png.Data})
	fmt.Println(verdict.Allowed, verdict.DetectedType, len(verdict.Sanitized) == len(png.Data))
	// Output: true image/png true
}
