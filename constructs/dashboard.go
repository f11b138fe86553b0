package constructs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// regionRef is the CloudFormation reference to the deploying region, for a
// stack whose region is known only at deploy time.
const regionRef = "${AWS::Region}"

// WorkflowDashboardProps configure a WorkflowDashboard.
type WorkflowDashboardProps struct {
	// Name is the dashboard's name (names.Dashboard). It may hold
	// ${AWS::Region}.
	Name string
	// Workflow is the workflow's id.
	Workflow string
	// Region is the region of the metrics: a region code, or
	// ${AWS::Region}.
	Region string
	// Functions are the AWS names of the functions subscribed to the
	// workflow's events, in order.
	Functions []string
	// Tracker is the AWS name of the workflow's tracker function, and
	// TrackLogGroup its tracking log group.
	Tracker, TrackLogGroup string
	// Events are the workflow's events in order, and Streams their
	// Kinesis streams.
	Events, Streams []string
	// PeriodSeconds is the period of every graph.
	PeriodSeconds int
	// ErrorThreshold and IteratorAgeSeconds, when not zero, draw the alarm
	// thresholds on the graphs.
	ErrorThreshold, IteratorAgeSeconds int
}

// WorkflowDashboard is a workflow's CloudWatch dashboard: for each function
// of the workflow and its tracker, invocations, errors, throttles, duration
// and iterator age; for each stream of the flow, incoming records and the
// reads and writes over its provisioned throughput.
type WorkflowDashboard interface {
	constructs.Construct
	Dashboard() awscloudwatch.CfnDashboard
}

type workflowDashboard struct {
	constructs.Construct
	dashboard awscloudwatch.CfnDashboard
}

func (d *workflowDashboard) Dashboard() awscloudwatch.CfnDashboard { return d.dashboard }

// NewWorkflowDashboard adds a workflow's dashboard. Metrics name functions
// and streams by their names, so the dashboard may live in any stack of the
// app; xflow puts it beside the workflow's tracker.
func NewWorkflowDashboard(scope constructs.Construct, id string, props *WorkflowDashboardProps) (WorkflowDashboard, error) {
	if props == nil || props.Name == "" || props.Tracker == "" {
		return nil, fmt.Errorf("dashboard %s: no name or tracker in props", id)
	}
	body, err := dashboardBody(props)
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", props.Name, err)
	}
	this := &workflowDashboard{}
	constructs.NewConstruct_Override(this, scope, &id)
	this.dashboard = awscloudwatch.NewCfnDashboard(this, jsii.String("Dashboard"), &awscloudwatch.CfnDashboardProps{
		DashboardName: sub(props.Name),
		DashboardBody: sub(body),
	})
	return this, nil
}

// sub returns s as it is, or as an Fn::Sub when it refers to the region.
// Every other "${" is escaped, so that only the region is substituted.
func sub(s string) *string {
	if !strings.Contains(s, "${") {
		return jsii.String(s)
	}
	s = strings.ReplaceAll(s, "${", "${!")
	s = strings.ReplaceAll(s, "${!"+regionRef[2:], regionRef)
	return awscdk.Fn_Sub(jsii.String(s), nil)
}

// The dashboard body's structure, in the order CloudWatch documents it.
type (
	dashboardJSON struct {
		Widgets []widget `json:"widgets"`
	}
	widget struct {
		Type       string `json:"type"`
		X          int    `json:"x"`
		Y          int    `json:"y"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		Properties any    `json:"properties"`
	}
	textProperties struct {
		Markdown string `json:"markdown"`
	}
	metricProperties struct {
		Title       string       `json:"title"`
		View        string       `json:"view"`
		Stacked     bool         `json:"stacked"`
		Region      string       `json:"region"`
		Stat        string       `json:"stat"`
		Period      int          `json:"period"`
		Metrics     [][]any      `json:"metrics"`
		Annotations *annotations `json:"annotations,omitempty"`
	}
	annotations struct {
		Horizontal []annotation `json:"horizontal"`
	}
	annotation struct {
		Label string  `json:"label"`
		Value float64 `json:"value"`
	}
)

// Grid of the dashboard: 24 columns; graphs three or two to a row.
const (
	dashboardColumns = 24
	graphHeight      = 6
	headerHeight     = 3
)

func dashboardBody(p *WorkflowDashboardProps) (string, error) {
	functions := append(append([]string{}, p.Functions...), p.Tracker)
	graph := func(title, namespace, metric, dimension string, names []string, stat string, threshold *annotation) metricProperties {
		mp := metricProperties{Title: title, View: "timeSeries", Region: p.Region, Stat: stat, Period: p.PeriodSeconds}
		for _, n := range names {
			mp.Metrics = append(mp.Metrics, []any{namespace, metric, dimension, n, map[string]string{"label": n}})
		}
		if threshold != nil {
			mp.Annotations = &annotations{Horizontal: []annotation{*threshold}}
		}
		return mp
	}
	var errorLine, ageLine *annotation
	if p.ErrorThreshold > 0 {
		errorLine = &annotation{Label: "alarm", Value: float64(p.ErrorThreshold)}
	}
	if p.IteratorAgeSeconds > 0 {
		ageLine = &annotation{Label: "alarm", Value: float64(p.IteratorAgeSeconds * 1000)}
	}
	rows := [][]metricProperties{
		{
			graph("Invocations", "AWS/Lambda", "Invocations", "FunctionName", functions, "Sum", nil),
			graph("Errors", "AWS/Lambda", "Errors", "FunctionName", functions, "Sum", errorLine),
			graph("Throttles", "AWS/Lambda", "Throttles", "FunctionName", functions, "Sum", nil),
		},
		{
			graph("Duration (average, ms)", "AWS/Lambda", "Duration", "FunctionName", functions, "Average", nil),
			graph("Iterator age (maximum, ms)", "AWS/Lambda", "IteratorAge", "FunctionName", functions, "Maximum", ageLine),
		},
		{
			graph("Stream incoming records", "AWS/Kinesis", "IncomingRecords", "StreamName", p.Streams, "Sum", nil),
			graph("Stream reads over provisioned throughput", "AWS/Kinesis", "ReadProvisionedThroughputExceeded", "StreamName", p.Streams, "Sum", nil),
			graph("Stream writes over provisioned throughput", "AWS/Kinesis", "WriteProvisionedThroughputExceeded", "StreamName", p.Streams, "Sum", nil),
		},
	}
	d := dashboardJSON{Widgets: []widget{{
		Type: "text", Width: dashboardColumns, Height: headerHeight,
		Properties: textProperties{Markdown: dashboardHeader(p)},
	}}}
	y := headerHeight
	for _, row := range rows {
		w := dashboardColumns / len(row)
		for i, g := range row {
			d.Widgets = append(d.Widgets, widget{Type: "metric", X: i * w, Y: y, Width: w, Height: graphHeight, Properties: g})
		}
		y += graphHeight
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return "", err
	}
	return strings.TrimSpace(buf.String()), nil
}

func dashboardHeader(p *WorkflowDashboardProps) string {
	quoted := make([]string, len(p.Events))
	for i, e := range p.Events {
		quoted[i] = "`" + e + "`"
	}
	return fmt.Sprintf("## Workflow `%s`\n"+
		"Flow: %s. Its tracker `%s` writes every event to `%s`, which `xflow track` reads.\n\n"+
		"Generated by xflow from the workflow configuration: change the YAML, not this dashboard.",
		p.Workflow, strings.Join(quoted, " → "), p.Tracker, p.TrackLogGroup)
}
