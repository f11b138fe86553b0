package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
)

// failureBucketID is the construct id of a stack's failure bucket.
const failureBucketID = "FailureBucket"

// NewFailureBucket adds the S3 bucket that keeps the batches the functions
// of a stack give up on (on_failure: bucket). Lambda writes each failed
// batch there whole, the records' data included, so a batch can be
// redriven after the stream's retention has passed, which an SQS
// destination, holding only the batch's sequence numbers, cannot do.
//
// The bucket is encrypted (S3-managed keys, which need no permission for
// Lambda to write), refuses every request not made over TLS (EnforceSSL:
// a bucket policy denying aws:SecureTransport false), blocks public
// access, and expires its objects after the failure queue's 14 days, so
// that failure records do not pile up forever. Its name is left to
// CloudFormation (bucket names are global), and it is retained when the
// stack is deleted: unlike a queue or a log group, a retained bucket does
// not block the next deploy, and it may hold the only copy of records the
// stream no longer has.
func NewFailureBucket(scope constructs.Construct, id string) awss3.Bucket {
	return awss3.NewBucket(scope, jsii.String(id), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-failure-records"),
			Enabled:                             jsii.Bool(true),
			Expiration:                          durationDays(spec.FailureRetentionDays),
			AbortIncompleteMultipartUploadAfter: durationDays(1),
		}},
	})
}
