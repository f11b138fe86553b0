package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
)

// Monitoring: alarms beside each function (in the Step or WorkflowTracker
// that owns it, so in its stack), one SNS topic for a config in its first
// stack, and one dashboard per workflow beside its tracker.
//
// Alarms are CfnAlarm and dashboards CfnDashboard, written out from the
// spec in Go: each is one call to the CDK, where the Metric and Widget
// objects of the L2 constructs would cost several per function (see
// memo.go), and the metrics name functions and streams by their
// deterministic names, so a dashboard needs no reference to another stack.

// Alarms say how the functions of one stack are watched: the spec's
// monitoring settings and the ARN of the topic their alarms notify, which
// may be in another stack of the app.
type Alarms struct {
	Monitoring *spec.Monitoring
	// Topic is the ARN of the SNS topic the alarms notify on entering and
	// leaving the ALARM state.
	Topic *string
}

// watched is what the alarms of one function depend on.
type watched struct {
	function   string       // the AWS function name
	subscribed bool         // it has event source mappings
	queue      awssqs.Queue // its own failure queue; nil when none
	external   bool         // a subscription sends failures to an ARN
}

// Comparison operators of CloudWatch alarms.
const (
	atLeast = "GreaterThanOrEqualToThreshold"
	above   = "GreaterThanThreshold"
)

// watch adds the alarms of one function under scope and returns them:
// errors; iterator age, when it has subscriptions; records in its failure
// queue, when it has one; and failed deliveries to ARN destinations, when
// it uses any. Their construct ids are fixed, so their logical ids follow
// the function.
func (a *Alarms) watch(scope constructs.Construct, w watched) []awscloudwatch.CfnAlarm {
	if a == nil || a.Monitoring == nil {
		return nil
	}
	m := a.Monitoring
	period := seconds(m.PeriodSeconds)
	fn := &awscloudwatch.CfnAlarm_DimensionProperty{Name: jsii.String("FunctionName"), Value: jsii.String(w.function)}
	alarms := []awscloudwatch.CfnAlarm{
		a.alarm(scope, "Alarm-Errors", fmt.Sprintf("xflow: function %s failed %d or more times in %s", w.function, m.ErrorThreshold, period),
			"AWS/Lambda", "Errors", fn, "Sum", float64(m.ErrorThreshold), atLeast),
	}
	if w.subscribed {
		alarms = append(alarms, a.alarm(scope, "Alarm-IteratorAge",
			fmt.Sprintf("xflow: function %s is more than %s behind a stream it subscribes to (iterator age)", w.function, seconds(m.IteratorAgeSeconds)),
			"AWS/Lambda", "IteratorAge", fn, "Maximum", float64(m.IteratorAgeSeconds*1000), above))
	}
	if w.queue != nil {
		q := &awscloudwatch.CfnAlarm_DimensionProperty{Name: jsii.String("QueueName"), Value: w.queue.QueueName()}
		alarms = append(alarms, a.alarm(scope, "Alarm-FailureQueue",
			fmt.Sprintf("xflow: function %s gave up on records; the descriptions of their batches wait in its failure queue", w.function),
			"AWS/SQS", "ApproximateNumberOfMessagesVisible", q, "Maximum", 0, above))
	}
	if w.external {
		alarms = append(alarms, a.alarm(scope, "Alarm-DestinationDeliveryFailures",
			fmt.Sprintf("xflow: function %s gave up on records, and Lambda failed to send their batches to the on-failure destination", w.function),
			"AWS/Lambda", "DestinationDeliveryFailures", fn, "Sum", 0, above))
	}
	return alarms
}

func (a *Alarms) alarm(scope constructs.Construct, id, description, namespace, metric string, dimension *awscloudwatch.CfnAlarm_DimensionProperty, statistic string, threshold float64, comparison string) awscloudwatch.CfnAlarm {
	m := a.Monitoring
	return awscloudwatch.NewCfnAlarm(scope, jsii.String(id), &awscloudwatch.CfnAlarmProps{
		AlarmDescription:   jsii.String(description),
		Namespace:          jsii.String(namespace),
		MetricName:         jsii.String(metric),
		Dimensions:         &[]*awscloudwatch.CfnAlarm_DimensionProperty{dimension},
		Statistic:          jsii.String(statistic),
		Period:             jsii.Number(m.PeriodSeconds),
		EvaluationPeriods:  jsii.Number(m.EvaluationPeriods),
		Threshold:          jsii.Number(threshold),
		ComparisonOperator: jsii.String(comparison),
		TreatMissingData:   jsii.String(m.TreatMissingData),
		AlarmActions:       &[]any{a.Topic},
		OkActions:          &[]any{a.Topic},
	})
}

// AlarmTopicProps configure an AlarmTopic.
type AlarmTopicProps struct {
	// Monitoring names the topic (TopicName) and the e-mail addresses to
	// subscribe to it.
	Monitoring *spec.Monitoring
}

// AlarmTopic is the SNS topic xflow creates for a config's alarms, with
// its e-mail subscriptions.
type AlarmTopic interface {
	constructs.Construct
	Topic() awssns.CfnTopic
	// TopicArn is the topic's ARN, as a reference within its stack.
	TopicArn() *string
}

type alarmTopic struct {
	constructs.Construct
	topic awssns.CfnTopic
	arn   *string
}

func (t *alarmTopic) Topic() awssns.CfnTopic { return t.topic }
func (t *alarmTopic) TopicArn() *string      { return t.arn }

// NewAlarmTopic adds the alarm topic and one e-mail subscription per
// address. Each address is a construct id of its own, so adding or
// removing one leaves the others' subscriptions as they are; each address
// must confirm its subscription from the mail SNS sends.
//
// The topic is not encrypted: CloudWatch cannot publish to a topic
// encrypted with the AWS-managed SNS key, and a customer-managed key (its
// cost, its key policy) is more than alarm notifications need. Its access
// policy refuses publishing without TLS (aws:SecureTransport false;
// AwsSolutions-SNS3). A topic policy replaces SNS's default one, so it
// also lets CloudWatch publish the alarms of this account; the account's
// own principals keep what their IAM policies grant.
func NewAlarmTopic(scope constructs.Construct, id string, props *AlarmTopicProps) (AlarmTopic, error) {
	if props == nil || props.Monitoring == nil || props.Monitoring.TopicName == "" {
		return nil, fmt.Errorf("alarm topic %s: no topic name in props", id)
	}
	m := props.Monitoring
	this := &alarmTopic{}
	constructs.NewConstruct_Override(this, scope, &id)
	this.topic = awssns.NewCfnTopic(this, jsii.String("Topic"), &awssns.CfnTopicProps{
		TopicName:   jsii.String(m.TopicName),
		DisplayName: jsii.String("xflow alarms"),
	})
	this.arn = this.topic.Ref()
	awssns.NewCfnTopicPolicy(this, jsii.String("Policy"), &awssns.CfnTopicPolicyProps{
		Topics:         &[]*string{this.arn},
		PolicyDocument: topicPolicy(this.arn),
	})
	for _, e := range m.Emails {
		awssns.NewCfnSubscription(this, jsii.String("Email-"+e), &awssns.CfnSubscriptionProps{
			TopicArn: this.arn,
			Protocol: jsii.String("email"),
			Endpoint: jsii.String(e),
		})
	}
	return this, nil
}

// topicPolicy is the alarm topic's access policy: CloudWatch alarms of
// this account may publish, and nobody may publish without TLS.
func topicPolicy(topic *string) awsiam.PolicyDocument {
	return awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("AllowCloudWatchAlarms"),
				Effect:     awsiam.Effect_ALLOW,
				Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
				Actions:    jsii.Strings(topicPublishActions...),
				Resources:  &[]*string{topic},
				Conditions: &map[string]any{
					"ArnLike":      map[string]any{"aws:SourceArn": awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"), nil)},
					"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
				},
			}),
			denyWithoutTLS(topicPublishActions, topic),
		},
	})
}

// denyWithoutTLS is the statement of a resource policy that refuses the
// actions to anyone who does not use TLS.
func denyWithoutTLS(actions []string, resource *string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("DenyWithoutTLS"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings(actions...),
		Resources:  &[]*string{resource},
		Conditions: &map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
	})
}

// seconds renders a number of seconds in the largest exact unit, as the
// config writes durations.
func seconds(n int) string {
	switch {
	case n != 0 && n%86400 == 0:
		return fmt.Sprintf("%dd", n/86400)
	case n != 0 && n%3600 == 0:
		return fmt.Sprintf("%dh", n/3600)
	case n != 0 && n%60 == 0:
		return fmt.Sprintf("%dm", n/60)
	}
	return fmt.Sprintf("%ds", n)
}
