package constructs

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
)

// runtimeFamilies maps a runtime name's prefix to its CDK family. The
// family only matters to CDK features xflow does not use (bundling, inline
// code), so an unknown prefix falls back to OTHER rather than failing.
var runtimeFamilies = []struct {
	prefix string
	family awslambda.RuntimeFamily
}{
	{"python", awslambda.RuntimeFamily_PYTHON},
	{"nodejs", awslambda.RuntimeFamily_NODEJS},
	{"java", awslambda.RuntimeFamily_JAVA},
	{"dotnet", awslambda.RuntimeFamily_DOTNET_CORE},
	{"ruby", awslambda.RuntimeFamily_RUBY},
	{"go", awslambda.RuntimeFamily_GO},
	{"provided", awslambda.RuntimeFamily_OTHER},
}

// lambdaRuntime builds the runtime from its name rather than picking one of
// the CDK's constants, so that any runtime the config accepts works, even
// one newer than this CDK release.
func lambdaRuntime(name string) awslambda.Runtime {
	family := awslambda.RuntimeFamily_OTHER
	for _, f := range runtimeFamilies {
		if strings.HasPrefix(name, f.prefix) {
			family = f.family
			break
		}
	}
	return memoized(&memo.runtimes, name, func() awslambda.Runtime {
		return awslambda.NewRuntime(jsii.String(name), family, nil)
	})
}

func lambdaArchitecture(name string) (awslambda.Architecture, error) {
	switch name {
	case "", spec.ArchX86:
		return memoized(&memo.archs, spec.ArchX86, awslambda.Architecture_X86_64), nil
	case spec.ArchARM:
		return memoized(&memo.archs, spec.ArchARM, awslambda.Architecture_ARM_64), nil
	}
	return nil, fmt.Errorf("architecture %q is not %s or %s", name, spec.ArchX86, spec.ArchARM)
}

// lambdaCode is the function's package. Local paths are relative to the
// current directory, which is the generated app's folder when the CDK CLI
// runs the app.
func lambdaCode(scope constructs.Construct, c spec.Code) (awslambda.Code, error) {
	switch c.Kind {
	case spec.CodeFile:
		// The package holds the one file at its root (the handler
		// "module.function" needs it there) and nothing that happens to
		// lie beside it. The file is staged alone in a folder of its own,
		// which the CDK then fingerprints and copies in one step. Giving
		// the CDK the file's own folder with every other entry excluded
		// packages the same bytes (same asset hash), but the CDK walks and
		// glob-matches the whole folder once per function: with N
		// functions whose sources share a folder, N² matches, which is
		// most of a synth from a few hundred functions on.
		dir, err := stageFile(c.Path)
		if err != nil {
			return nil, err
		}
		return awslambda.Code_FromAsset(jsii.String(dir), nil), nil
	case spec.CodeDir, spec.CodeZip:
		// A folder is zipped whole; a .zip or .jar is uploaded as it is.
		return awslambda.Code_FromAsset(jsii.String(c.Path), nil), nil
	case spec.CodeS3:
		bucket := awss3.Bucket_FromBucketName(scope, jsii.String("CodeBucket"), jsii.String(c.Bucket))
		var version *string
		if c.ObjectVersion != "" {
			version = jsii.String(c.ObjectVersion)
		}
		return awslambda.Code_FromBucket(bucket, jsii.String(c.Key), version), nil
	}
	return nil, fmt.Errorf("code kind %q is not one of %s, %s, %s, %s", c.Kind, spec.CodeFile, spec.CodeDir, spec.CodeZip, spec.CodeS3)
}

// globLiteral escapes a file name so that the CDK's glob matcher
// (minimatch) matches it literally.
func globLiteral(name string) string {
	var b strings.Builder
	for _, r := range name {
		if strings.ContainsRune(`\*?[]{}()!+@#`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
