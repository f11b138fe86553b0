// Package templates holds the text templates of the generated CDK app.
// They stay dumb: every value is computed by the generator into one flat
// struct before rendering.
package templates

import "embed"

// FS holds every *.tmpl file.
//
//go:embed *.tmpl
var FS embed.FS
