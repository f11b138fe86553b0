package generator

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/names"
)

// Resolve turns a loaded config into the spec the constructs build from.
// appDir is the folder of the generated app: local source paths are
// written relative to it so that the app does not depend on where it was
// generated.
//
// artifacts are the functions' built packages (for the Lambda target), by
// lambda name: a function with a local source is packaged from its
// artifact, which Write links into the app at ArtifactPath. Nil resolves
// local sources to themselves, for readers of the spec that package
// nothing (local mode).
func Resolve(c *config.Config, appDir string, artifacts map[string]*build.Artifact) (*spec.Spec, error) {
	scheme := names.New(c.General.NamePrefix)
	s := &spec.Spec{
		StackName: c.General.StackName,
		Prefix:    c.General.NamePrefix,
		Region:    c.AWS.Region,
		Account:   c.AWS.Account,
		RoleName:  c.AWS.LambdaExecutionRoleName,
		Streams:   []spec.Stream{},
		Functions: []spec.Function{},
		Trackers:  []spec.Tracker{},
	}
	if s.StackName == "" {
		s.StackName = scheme.StackName()
	}
	if len(c.AWS.SubnetIDs) > 0 {
		s.VPC = &spec.VPC{SubnetIDs: c.AWS.SubnetIDs, SecurityGroupIDs: c.AWS.SecurityGroupIDs}
	}
	for _, sub := range c.Subscriptions {
		s.Streams = append(s.Streams, spec.Stream{
			Event:          sub.Event,
			Name:           scheme.Stream(sub.Event),
			Shards:         sub.Shards,
			RetentionHours: sub.RetentionHours,
		})
	}
	for _, l := range c.Lambdas {
		f, err := resolveFunction(c, scheme, l, appDir, artifacts)
		if err != nil {
			return nil, err
		}
		s.Functions = append(s.Functions, f)
	}
	for _, w := range c.Workflows {
		s.Trackers = append(s.Trackers, spec.Tracker{
			Workflow:         w.ID,
			Name:             scheme.Tracker(w.ID),
			LogGroup:         scheme.TrackerLogGroup(w.ID),
			LogRetentionDays: c.General.TrackRetention,
			Events:           w.Flow,
			MemoryMB:         spec.TrackerMemoryMB,
			TimeoutSeconds:   spec.TrackerTimeoutSeconds,
			Mapping: spec.Mapping{
				BatchSize:               spec.TrackerBatchSize,
				StartingPosition:        spec.DefaultStartingPosition,
				RetryAttempts:           spec.TrackerRetryAttempts,
				MaxRecordAgeSeconds:     spec.TrackerMaxRecordAgeSeconds,
				BisectOnError:           true,
				ParallelizationFactor:   1,
				ReportBatchItemFailures: true,
				OnFailure:               spec.OnFailureQueue,
			},
			Tracing: c.General.Tracing == config.TracingActive,
		})
	}
	if m := c.Monitoring; m != nil {
		s.Monitoring = &spec.Monitoring{
			TopicARN:           m.TopicARN,
			Emails:             m.Emails,
			Dashboards:         m.Dashboard == nil || *m.Dashboard,
			PeriodSeconds:      int(m.Period),
			EvaluationPeriods:  m.EvaluationPeriods,
			ErrorThreshold:     m.ErrorThreshold,
			IteratorAgeSeconds: int(m.IteratorAgeThreshold),
			TreatMissingData:   m.TreatMissingData,
		}
		if m.TopicARN == "" {
			s.Monitoring.TopicName = names.AlarmTopic(s.StackName)
		}
	}
	if l := c.Logging; l != nil {
		s.Logging = &spec.Logging{DestinationARN: l.DestinationARN, FilterPattern: string(l.FilterPattern)}
	}
	return s, nil
}

func resolveFunction(c *config.Config, scheme names.Scheme, l config.Lambda, appDir string, artifacts map[string]*build.Artifact) (spec.Function, error) {
	f := spec.Function{
		Lambda:           l.Name,
		Name:             scheme.Function(l.Name),
		Description:      l.Description,
		Handler:          l.Handler,
		Runtime:          l.Runtime,
		Architecture:     l.Architecture,
		MemoryMB:         l.Memory,
		TimeoutSeconds:   l.Timeout,
		LogRetentionDays: l.LogRetentionDays,
		Emits:            c.EmitsOf(l.Name),
		Environment:      map[string]string{},
		Tracing:          l.Tracing == config.TracingActive,
	}
	for k, v := range l.Environment {
		f.Environment[k] = v
	}
	var streams []string
	for _, e := range f.Emits {
		f.Environment[names.StreamEnvVar(e)] = scheme.Stream(e)
		streams = append(streams, scheme.Stream(e))
	}
	if len(streams) > 0 {
		f.Environment[names.EnvEmits] = strings.Join(streams, ",")
	}
	if scheme.Prefix != "" {
		f.Environment[names.EnvPrefix] = scheme.Prefix
	}
	if len(f.Environment) == 0 {
		f.Environment = nil
	}

	switch l.Code.Kind {
	case config.CodeS3:
		f.Code = spec.Code{Kind: spec.CodeS3, Bucket: l.Code.Bucket, Key: l.Code.Key, ObjectVersion: l.Code.Version}
	case config.CodeFile, config.CodeDir, config.CodeZip:
		if artifacts != nil {
			a, ok := artifacts[l.Name]
			if !ok || a.Target != build.Lambda {
				return f, fmt.Errorf("lambda %s: its package was not built for Lambda (a bug: the build stage runs before generate)", l.Name)
			}
			kind := spec.CodeDir
			if a.Kind == build.KindZip {
				kind = spec.CodeZip
			}
			f.Code = spec.Code{Kind: kind, Path: ArtifactPath(a), SHA256: a.SHA256}
			break
		}
		rel, err := filepath.Rel(appDir, l.Code.Path)
		if err != nil {
			return f, fmt.Errorf("lambda %s: locate source from the app folder: %w", l.Name, err)
		}
		f.Code = spec.Code{Kind: l.Code.Kind, Path: filepath.ToSlash(rel)}
	default:
		return f, fmt.Errorf("lambda %s: unresolved source %q", l.Name, l.Source)
	}

	for _, sub := range c.Subscriptions {
		for _, who := range sub.Subscribers {
			if who.Lambda != l.Name {
				continue
			}
			st := sub.Settings(who)
			m := spec.Mapping{
				BatchSize:               st.BatchSize,
				BatchWindowSeconds:      int(st.BatchWindow),
				StartingPosition:        st.StartingPosition,
				RetryAttempts:           st.RetryAttempts,
				MaxRecordAgeSeconds:     int(st.MaxRecordAge),
				BisectOnError:           st.BisectOnError,
				ParallelizationFactor:   st.ParallelizationFactor,
				ReportBatchItemFailures: st.ReportBatchItemFailures,
			}
			switch st.OnFailure {
			case config.OnFailureQueue:
				m.OnFailure = spec.OnFailureQueue
			case config.OnFailureBucket:
				m.OnFailure = spec.OnFailureBucket
			case config.OnFailureNone:
				m.OnFailure = spec.OnFailureNone
			default:
				m.OnFailure, m.OnFailureTarget = spec.OnFailureARN, st.OnFailure
			}
			f.Subscriptions = append(f.Subscriptions, spec.Subscription{Event: sub.Event, Mapping: m})
		}
	}
	return f, nil
}

// ArtifactPath is where Write puts a function's built package inside the
// app: artifacts/<lambda>, or artifacts/<lambda>.zip for a ready package.
// The app carries its packages, so that it deploys wherever it is copied.
func ArtifactPath(a *build.Artifact) string {
	if a.Kind == build.KindZip {
		return "artifacts/" + a.Lambda + ".zip"
	}
	return "artifacts/" + a.Lambda
}
