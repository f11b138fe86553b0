// Package xflow holds the sources that every generated CDK app packages
// beside its main.go: the constructs, their spec, the naming rules and the
// tracker Lambda, with this module's go.mod and go.sum. Embedding them in
// the xflow binary lets the generated app build offline and stand alone,
// wherever the config lives and however xflow was installed.
//
// It sits at the module's root only because go:embed cannot reach above its
// package's folder, and go.mod and go.sum are here. It is not an API: apps
// import constructs and constructs/spec; the xflow command reads AppSources.
package xflow

import "embed"

// AppSources are the packaged sources; _test.go files are skipped when
// they are written out.
//
//go:embed go.mod go.sum internal/names/*.go constructs/*.go constructs/spec/*.go internal/trackerbuild/*.go internal/tracker/*.go internal/tracker/lambda/*.go
var AppSources embed.FS

// Module is this module's path, which the generated app replaces with its
// packaged copy.
const Module = "github.com/xflowhq/xflow"
