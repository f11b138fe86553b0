package constructs

import (
	"fmt"
	"sync"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// Every call from Go into the CDK is a round trip to the Node.js process
// that runs it (a JSON request and response over pipes, through a relay
// process), and at hundreds of functions the round trips, not the CDK's
// own work, are most of a synth (see docs/benchmarks.md). Values that are
// immutable in the CDK (durations, runtimes, architectures, a service
// principal) are made once per process, and attributes that are fixed
// tokens (a stream's ARN) are read once per object, so that each function
// costs as few round trips as its resources need.
var memo struct {
	sync.Mutex
	durations map[string]awscdk.Duration
	runtimes  map[string]awslambda.Runtime
	archs     map[string]awslambda.Architecture
	principal awsiam.IPrincipal
	arns      map[awskinesis.IStream]*string
}

func memoized[K comparable, V any](m *map[K]V, k K, make func() V) V {
	memo.Lock()
	defer memo.Unlock()
	if *m == nil {
		*m = map[K]V{}
	}
	if v, ok := (*m)[k]; ok {
		return v
	}
	v := make()
	(*m)[k] = v
	return v
}

func durationSeconds(n int) awscdk.Duration {
	return memoized(&memo.durations, fmt.Sprint("s", n), func() awscdk.Duration { return awscdk.Duration_Seconds(jsii.Number(n)) })
}

func durationHours(n int) awscdk.Duration {
	return memoized(&memo.durations, fmt.Sprint("h", n), func() awscdk.Duration { return awscdk.Duration_Hours(jsii.Number(n)) })
}

func durationDays(n int) awscdk.Duration {
	return memoized(&memo.durations, fmt.Sprint("d", n), func() awscdk.Duration { return awscdk.Duration_Days(jsii.Number(n)) })
}

// lambdaPrincipal is the principal every execution role trusts.
func lambdaPrincipal() awsiam.IPrincipal {
	memo.Lock()
	defer memo.Unlock()
	if memo.principal == nil {
		memo.principal = awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)
	}
	return memo.principal
}

// streamArnOf is s.StreamArn(), read once per stream.
func streamArnOf(s awskinesis.IStream) *string {
	return memoized(&memo.arns, s, func() *string { return s.StreamArn() })
}
