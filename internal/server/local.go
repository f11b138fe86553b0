package server

import (
	"context"
	"errors"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/redrive"
	"github.com/xflowhq/xflow/internal/track"
)

// Local is the Backend of a workflow run on this machine by the local
// runtime (package local): events go to the streams of its state folder,
// reports and executions are read from its log store, with the same code
// as on AWS since both have CloudWatch Logs' shape. It is safe for
// concurrent use.
type Local struct {
	config    *config.Config
	publisher *publish.Publisher
	logs      *local.Logs
	track     track.Options
	health    track.HealthOptions
	redrive   func(ctx context.Context, opts redrive.Options) (*redrive.Report, error)
	close     func() error
}

// NewLocal is the backend of a runtime started in this process (xflow
// server --local): it publishes through the runtime, which wakes its
// subscribers at once.
func NewLocal(rt *local.Runtime) *Local {
	return &Local{
		config:    rt.Config(),
		publisher: publish.New(rt.Streams(), rt.Config()),
		logs:      rt.Logs(),
		track:     local.TrackOptions(rt.StateDir()),
		health:    local.HealthOptions(rt.StateDir()),
		redrive:   rt.Redrive,
		close:     func() error { return nil },
	}
}

// OpenLocal is the backend of a state folder on which a runtime of c runs
// in another process (xflow run): events are appended to the streams of
// the folder, under their lock, and that runtime picks them up; reports
// are read from its log store. Close it after use.
func OpenLocal(c *config.Config, stateDir string) (*Local, error) {
	streams, err := local.OpenStreams(stateDir, c)
	if err != nil {
		return nil, err
	}
	logs, err := local.OpenLogs(stateDir)
	if err != nil {
		streams.Close()
		return nil, err
	}
	return &Local{
		config:    c,
		publisher: publish.New(streams, c),
		logs:      logs,
		track:     local.TrackOptions(stateDir),
		health:    local.HealthOptions(stateDir),
		// Whichever runtime runs the folder when asked: that one, or the
		// one this server starts when it stops.
		redrive: func(ctx context.Context, opts redrive.Options) (*redrive.Report, error) {
			return local.Redrive(ctx, stateDir, c, opts)
		},
		close: func() error { return errors.Join(streams.Close(), logs.Close()) },
	}, nil
}

// Close releases the files OpenLocal opened; the runtime of NewLocal is
// its owner's to stop.
func (l *Local) Close() error { return l.close() }

// Publish appends a prepared event to its local stream.
func (l *Local) Publish(ctx context.Context, rec *publish.Record) (publish.Result, error) {
	return l.publisher.Send(ctx, rec)
}

// Track reads the execution's tracking log and its producers' logs from
// the local log store.
func (l *Local) Track(ctx context.Context, workflowID, executionID string) (*track.Report, error) {
	return track.Track(ctx, l.logs, l.config, workflowID, executionID, l.track)
}

// CheckTracker checks the workflow's tracker of a report not found or in
// progress: its log in the log store, the batches it gave up on.
func (l *Local) CheckTracker(ctx context.Context, rep *track.Report) error {
	return track.CheckTracker(ctx, l.logs, l.config, rep, l.health)
}

// Redrive delivers again, through the runtime, what the functions of a
// workflow gave up on of one execution.
func (l *Local) Redrive(ctx context.Context, workflowID, executionID string, dryRun bool) (*redrive.ExecutionReport, error) {
	return redrive.ForExecution(ctx, l.config, workflowID, executionID, dryRun, l.redrive)
}

// Executions lists a workflow's executions from the log streams of its
// tracker's log group in the local log store.
func (l *Local) Executions(ctx context.Context, workflowID string, limit int, token string) (ExecutionsPage, error) {
	group := names.New(l.config.General.NamePrefix).TrackerLogGroup(workflowID)
	return describeExecutions(ctx, l.logs, group, limit, token)
}
