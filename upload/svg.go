package upload

import (
	"fmt"

	"github.com/secmon-go/secmon"
)

// svgPatterns are elements and schemes that make an SVG active or make it
// fetch other resources. Matched ignoring ASCII case.
var svgPatterns = [...]string{
	"<script", "<foreignobject", "<iframe", "<embed", "<object", "<handler",
	"<!entity", "<?php", "<html", "javascript:", "vbscript:", "data:text/html", "@import",
}

// svgExternal are the reference schemes that load outside resources.
var svgExternal = [...]string{"http:", "https:", "//", "file:", "ftp:"}

// walkSVG scans an SVG document as a whole: it has no pixels and no
// metadata separate from its markup, and no structure walk applies.
func walkSVG(st *state) {
	b := st.data
	st.end = len(b)
	for i := 0; i < len(b); i++ {
		c := lower(b[i])
		for _, p := range svgPatterns {
			if p[0] == c && foldAt(b, i, p, 1) {
				st.add(secmon.ThreatHTMLContent, -1, fmt.Sprintf("SVG contains %q at byte %d", p, i))
				return
			}
		}
		if c == 'o' {
			if _, _, ok := eventHandlerAt(b, i, 1); ok {
				st.add(secmon.ThreatHTMLContent, -1, fmt.Sprintf("SVG has an event handler attribute at byte %d", i))
				return
			}
		}
		if c == 'h' && foldAt(b, i, "href", 1) {
			j := i + 4
			for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
				j++
			}
			if j < len(b) && b[j] == '=' {
				j++
				for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
					j++
				}
				if j < len(b) && (b[j] == '"' || b[j] == '\'') {
					j++
				}
				for _, p := range svgExternal {
					if foldAt(b, j, p, 1) {
						st.add(secmon.ThreatHTMLContent, -1, fmt.Sprintf("SVG references an external resource at byte %d", i))
						return
					}
				}
			}
		}
	}
}
