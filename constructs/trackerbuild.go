package constructs

import (
	"context"
	"io"

	"github.com/xflowhq/xflow/internal/trackerbuild"
)

// BuildTracker builds the tracker Lambda's binary (bootstrap, linux/arm64)
// from moduleDir/internal/tracker/lambda, cached by content, and returns the folder
// that holds it, to be used as AppOptions.TrackerAssetDir. The generated
// app calls it; xflow synth has usually built it already, while it
// compiled the app, so that the call is a cache hit (see
// trackerbuild.Build).
func BuildTracker(moduleDir string, progress io.Writer) (assetDir string, err error) {
	return trackerbuild.Build(context.Background(), moduleDir, progress)
}
