package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/generator"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/pipeline"
	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/tracker"
)

// Options tune a Runtime; the zero value is what `xflow run` uses.
type Options struct {
	// StateDir is the state folder; the .xflow folder beside the config
	// (pipeline.Layout) when empty.
	StateDir string
	// Log receives the runtime's own messages (retries, given-up batches,
	// builds); text on stderr when nil.
	Log *slog.Logger
	// Progress receives the lines of slow preparations (installing
	// Node.js); nil discards them.
	Progress io.Writer
	// Artifacts are the functions' packages built for this machine
	// (pipeline.Run with build.Host); a function without one is built at
	// start by Builder.
	Artifacts []*build.Artifact
	// Builder builds what Artifacts lacks; nil makes one from Python,
	// Node and StrictRuntimes.
	Builder *build.Builder
	// Python and Node are the interpreters to run handlers with; when
	// empty, $XFLOW_PYTHON and $XFLOW_NODE, then a search (see build).
	Python, Node string
	// StrictRuntimes refuses to run a handler with an interpreter older
	// than its runtime asks for (python3.11 for python3.12) instead of
	// warning.
	StrictRuntimes bool
	// Repair repairs the checkpoints that Start finds unusable (see
	// CheckOptions.Repair), saying so in the log, instead of refusing to
	// start. Damaged stream bytes are repaired at every start.
	Repair bool
}

// Runtime runs one config's workflow on this machine: its streams, the
// event source mappings of its functions and trackers, the functions'
// warm workers, and the Kinesis endpoint the handlers publish to.
type Runtime struct {
	cfg      *config.Config
	opts     Options
	stateDir string
	log      *slog.Logger

	region, account, roleARN string
	builder                  *build.Builder
	artifacts                map[string]*build.Artifact
	nodeSDKOnce              sync.Once
	nodeSDKDir               string // see nodeSDK
	sdkMu                    sync.Mutex
	pythonSDKs               map[string]string // see pythonSDK

	lock      *os.File
	streams   *Streams
	logs      *Logs
	kinesis   *kinesisServer
	functions []*function
	mappings  []*mapping

	// redriveMu lets one redrive run at a time (Redrive).
	redriveMu sync.Mutex

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	done     chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// New returns a Runtime of c, not started.
func New(c *config.Config, opts Options) *Runtime {
	r := &Runtime{cfg: c, opts: opts, artifacts: map[string]*build.Artifact{}, pythonSDKs: map[string]string{}, done: make(chan struct{})}
	r.stateDir = opts.stateDir(c)
	r.log = opts.logger()
	for _, a := range opts.Artifacts {
		r.artifacts[a.Lambda] = a
	}
	r.builder = opts.Builder
	if r.builder == nil {
		r.builder = build.New(build.Options{Progress: opts.Progress, Python: opts.Python, Node: opts.Node, StrictRuntimes: opts.StrictRuntimes})
	}
	r.region, r.account = region(c), account(c)
	role := c.AWS.LambdaExecutionRoleName
	if role == "" {
		role = "xflow-local"
	}
	r.roleARN = fmt.Sprintf("arn:aws:iam::%s:role/%s", r.account, role)
	return r
}

// stateDir is the state folder of a runtime of c with these options:
// StateDir or the layout's, made absolute when it can be.
func (o Options) stateDir(c *config.Config) string {
	dir := o.StateDir
	if dir == "" {
		dir = pipeline.LayoutOf(c).State()
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir
}

// logger is where a runtime with these options logs: Log, or text on
// stderr.
func (o Options) logger() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// Info is what a running runtime tells other processes about itself, in
// runtime.json of its state folder.
type Info struct {
	PID             int       `json:"pid"`
	KinesisEndpoint string    `json:"kinesis_endpoint"`
	Config          string    `json:"config"`
	Started         time.Time `json:"started"`
}

// Running reports whether a runtime is running on a state folder, and
// what it wrote about itself.
func Running(stateDir string) (Info, bool) {
	var info Info
	f, err := os.Open(filepath.Join(stateDir, "runtime.lock"))
	if err != nil {
		return info, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return info, false
	}
	data, err := os.ReadFile(filepath.Join(stateDir, "runtime.json"))
	if err == nil {
		json.Unmarshal(data, &info)
	}
	return info, true
}

// Start prepares everything (it builds Go functions and checks the
// interpreters, so it may take a while the first time) and starts
// delivering. ctx bounds the preparation only; the runtime runs until
// Stop.
func (r *Runtime) Start(ctx context.Context) (err error) {
	if err := os.MkdirAll(r.stateDir, 0o755); err != nil {
		return fmt.Errorf("create the state folder: %w", err)
	}
	if err := r.lockState(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if r.kinesis != nil {
				r.kinesis.close(context.Background())
			}
			r.release()
		}
	}()
	if r.streams, err = OpenStreams(r.stateDir, r.cfg); err != nil {
		return err
	}
	if r.logs, err = OpenLogs(r.stateDir); err != nil {
		return err
	}
	if err := r.checkState(); err != nil {
		return err
	}
	sp, err := generator.Resolve(r.cfg, r.cfg.Dir, nil)
	if err != nil {
		return err
	}
	if err := r.writeBootstraps(); err != nil {
		return err
	}
	control, err := r.newControl()
	if err != nil {
		return err
	}
	if r.kinesis, err = startKinesisServerWith(r.streams, control); err != nil {
		return err
	}
	scheme := names.New(r.cfg.General.NamePrefix)
	for _, fs := range sp.Functions {
		if err := r.addFunction(ctx, fs, scheme); err != nil {
			return err
		}
	}
	for _, ts := range sp.Trackers {
		if err := r.addTracker(ts, scheme); err != nil {
			return err
		}
	}
	for _, m := range r.mappings {
		if err := m.openCheckpoint(r.stateDir); err != nil {
			return fmt.Errorf("open the checkpoint of %s on %s: %w", m.function, m.stream.name, err)
		}
	}
	info, _ := json.MarshalIndent(Info{PID: os.Getpid(), KinesisEndpoint: r.kinesis.endpoint(), Config: r.cfg.File, Started: time.Now().UTC()}, "", "  ")
	if err := writeFileAtomic(filepath.Join(r.stateDir, "runtime.json"), append(info, '\n')); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, m := range r.mappings {
		r.wg.Go(func() { m.run(runCtx) })
	}
	r.log.Info("local runtime started", "state", r.stateDir, "functions", len(r.functions), "mappings", len(r.mappings), "kinesis", r.kinesis.endpoint())
	return nil
}

func (r *Runtime) lockState() error {
	f, err := os.OpenFile(filepath.Join(r.stateDir, "runtime.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock the state folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		var info Info
		if data, err := os.ReadFile(filepath.Join(r.stateDir, "runtime.json")); err == nil {
			json.Unmarshal(data, &info)
		}
		who := "another local runtime"
		if info.PID != 0 {
			who = fmt.Sprintf("another local runtime (pid %d, Kinesis at %s)", info.PID, info.KinesisEndpoint)
		}
		return fmt.Errorf("%s is running on %s: stop it first, or give this one another --state folder", who, r.stateDir)
	}
	r.lock = f
	return nil
}

// checkState reads every stream of the state folder before anything is
// delivered: damaged bytes are moved to the quarantine folder (and each
// is logged as an error), and a checkpoint that cannot be used as it is
// stops the start unless Options.Repair.
func (r *Runtime) checkState() error {
	r.streams.setLog(r.log)
	rep, err := checkStreams(r.stateDir, r.streams.streams, checkMode{streams: true, checkpoints: r.opts.Repair, log: r.log})
	if err != nil {
		return fmt.Errorf("check the state folder %s: %w", r.stateDir, err)
	}
	for _, s := range rep.Streams {
		if s.Problem != "" {
			return fmt.Errorf("stream %s of %s: %s", s.Stream, r.stateDir, s.Problem)
		}
		if s.Legacy > 0 {
			r.log.Info(fmt.Sprintf("stream %s has %d segment(s) written by an earlier xflow (.seg): they are read as they are, and new records go to .rec segments", s.Stream, s.Legacy), "stream", s.Stream)
		}
	}
	if bad := rep.checkpointProblems(); len(bad) > 0 {
		return &CheckpointError{Checkpoints: bad}
	}
	return nil
}

// CheckpointError is a start refused for checkpoints that cannot be used
// as they are.
type CheckpointError struct {
	Checkpoints []CheckpointCheck
}

func (e *CheckpointError) Error() string {
	var b strings.Builder
	if len(e.Checkpoints) == 1 {
		b.WriteString("a checkpoint cannot be used as it is:")
	} else {
		fmt.Fprintf(&b, "%d checkpoints cannot be used as they are:", len(e.Checkpoints))
	}
	for _, c := range e.Checkpoints {
		fmt.Fprintf(&b, "\n  %s: %s; the fix: %s (write %d into the file)", c.Path, c.Problem, c.FixText, c.Fix)
	}
	b.WriteString("\nstart with --repair to do that (xflow run --repair), or list all there is to repair with xflow run --check")
	return b.String()
}

func (r *Runtime) addFunction(ctx context.Context, fs spec.Function, scheme names.Scheme) error {
	l, ok := r.cfg.Lambda(fs.Lambda)
	if !ok {
		return fmt.Errorf("lambda %s is in the spec but not in the config", fs.Lambda)
	}
	if len(fs.Subscriptions) == 0 {
		return nil // nothing invokes it locally
	}
	ln, err := r.prepareLaunch(ctx, *l)
	if err != nil {
		return err
	}
	ln.env = r.functionEnv(*l, fs.Name, ln, fs.Environment)
	fn := &function{
		name:     fs.Name,
		arn:      fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", r.region, r.account, fs.Name),
		timeout:  time.Duration(fs.TimeoutSeconds) * time.Second,
		memoryMB: fs.MemoryMB,
		launch:   ln,
		logs:     r.logs,
		logGroup: names.FunctionLogGroup(fs.Name),
		all:      map[*worker]bool{},
	}
	if err := r.logs.ensureGroup(fn.logGroup); err != nil {
		return err
	}
	r.functions = append(r.functions, fn)
	for _, sub := range fs.Subscriptions {
		st, ok := r.streams.get(scheme.Stream(sub.Event))
		if !ok {
			return fmt.Errorf("lambda %s listens on %s, which is not an event of the config", l.Name, sub.Event)
		}
		r.mappings = append(r.mappings, &mapping{
			rt: r, stream: st, streamARN: r.streams.streamARN(st.name),
			function: fs.Name, fnARN: fn.arn,
			target: fn, settings: sub.Mapping, now: time.Now,
			log: r.log.With("function", fs.Name, "stream", st.name),
		})
	}
	return nil
}

// addTracker runs a workflow's tracker in this process, with the same
// handler as the tracker Lambda, writing to the local log store, and
// subscribes it to every stream of its flow as on AWS.
func (r *Runtime) addTracker(ts spec.Tracker, scheme names.Scheme) error {
	if err := r.logs.ensureGroup(ts.LogGroup); err != nil {
		return err
	}
	own := names.FunctionLogGroup(ts.Name)
	if err := r.logs.ensureGroup(own); err != nil {
		return err
	}
	h := &tracker.Handler{
		Logs:     r.logs,
		LogGroup: ts.LogGroup,
		Names:    scheme,
		Log:      slog.New(slog.NewJSONHandler(&logWriter{logs: r.logs, group: own, stream: logStreamName(time.Now())}, nil)),
	}
	t := &trackerTarget{h: h, timeout: time.Duration(ts.TimeoutSeconds) * time.Second}
	arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", r.region, r.account, ts.Name)
	seen := map[string]bool{}
	for _, e := range ts.Events {
		if seen[e] {
			continue
		}
		seen[e] = true
		st, ok := r.streams.get(scheme.Stream(e))
		if !ok {
			return fmt.Errorf("workflow %s tracks %s, which is not an event of the config", ts.Workflow, e)
		}
		r.mappings = append(r.mappings, &mapping{
			rt: r, stream: st, streamARN: r.streams.streamARN(st.name),
			function: ts.Name, fnARN: arn,
			target: t, settings: ts.Mapping, now: time.Now,
			log: r.log.With("function", ts.Name, "stream", st.name),
		})
	}
	return nil
}

// trackerTarget invokes a tracker handler in this process.
type trackerTarget struct {
	h       *tracker.Handler
	timeout time.Duration
}

func (t *trackerTarget) invoke(ctx context.Context, payload []byte) ([]byte, *FunctionError, error) {
	// The invocation finishes even when the runtime stops, as a Lambda's
	// does; only its timeout cuts it short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	out, err := t.h.Invoke(ctx, payload)
	if err != nil {
		return nil, &FunctionError{Type: "errorString", Message: err.Error()}, nil
	}
	return out, nil, nil
}

// logWriter writes each line written to it as a log event.
type logWriter struct {
	logs          *Logs
	group, stream string
}

func (w *logWriter) Write(p []byte) (int, error) {
	lines := strings.Split(strings.TrimRight(string(p), "\n"), "\n")
	if err := w.logs.write(w.group, w.stream, time.Now(), lines...); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Stop stops the runtime gracefully: no new batch starts, invocations in
// flight finish and their checkpoints are written, then the workers stop.
// When ctx ends first, the workers are killed and the batches they held
// are delivered again at the next start.
func (r *Runtime) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() {
		if r.cancel != nil {
			r.cancel()
		}
		finished := make(chan struct{})
		go func() {
			r.wg.Wait()
			close(finished)
		}()
		select {
		case <-finished:
		case <-ctx.Done():
			r.log.Warn("stop: invocations still running; killing their workers")
		}
		for _, f := range r.functions {
			f.stop()
		}
		<-finished
		var errs []error
		if r.kinesis != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, r.kinesis.close(sctx))
			cancel()
		}
		r.release()
		r.stopErr = errors.Join(errs...)
		close(r.done)
	})
	return r.stopErr
}

// release frees the state folder.
func (r *Runtime) release() {
	if r.streams != nil {
		r.streams.Close()
	}
	if r.logs != nil {
		r.logs.Close()
	}
	if r.lock != nil {
		os.Remove(filepath.Join(r.stateDir, "runtime.json"))
		os.Remove(filepath.Join(r.stateDir, tokenFile))
		r.lock.Close() // releases the flock
		r.lock = nil
	}
}

// Wait blocks until the runtime has stopped.
func (r *Runtime) Wait() error {
	<-r.done
	return r.stopErr
}

// WaitIdle blocks until every mapping has delivered everything its stream
// holds and no invocation is in flight: the workflow has done all it can
// with the events published so far.
func (r *Runtime) WaitIdle(ctx context.Context) error {
	quiet := 0
	for {
		if r.Idle() {
			quiet++
			// Twice in a row: an invocation that just published has woken
			// its stream's mappings by the second look.
			if quiet == 2 {
				return nil
			}
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.done:
			return errStopped
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Idle reports whether every mapping has delivered everything its stream
// holds now.
func (r *Runtime) Idle() bool {
	for _, m := range r.mappings {
		if !m.idle() {
			return false
		}
	}
	return true
}

// Publish puts an event on its local stream, with the same checks as
// `xflow publish`.
func (r *Runtime) Publish(ctx context.Context, event string, payload []byte) (publish.Result, error) {
	if r.streams == nil || r.kinesis == nil {
		return publish.Result{}, errors.New("publish: the local runtime is not running")
	}
	return publish.New(r.streams, r.cfg).Publish(ctx, event, payload)
}

// KinesisEndpoint is the URL of the local Kinesis API
// (AWS_ENDPOINT_URL_KINESIS for any SDK).
func (r *Runtime) KinesisEndpoint() string { return r.kinesis.endpoint() }

// Logs is the runtime's log store.
func (r *Runtime) Logs() *Logs { return r.logs }

// StateDir is the runtime's state folder.
func (r *Runtime) StateDir() string { return r.stateDir }

// Publish puts an event on its stream in a state folder, whether a
// runtime runs on it or not: the append takes the stream's lock, and a
// running runtime picks the record up from the file.
func Publish(ctx context.Context, stateDir string, c *config.Config, event string, payload []byte) (publish.Result, error) {
	// Check first, so that a bad event does not create a state folder.
	if _, err := publish.Prepare(c, event, payload); err != nil {
		return publish.Result{}, err
	}
	s, err := OpenStreams(stateDir, c)
	if err != nil {
		return publish.Result{}, err
	}
	defer s.Close()
	return publish.New(s, c).Publish(ctx, event, payload)
}

// Streams are the runtime's streams.
func (r *Runtime) Streams() *Streams { return r.streams }

// Config is the runtime's config.
func (r *Runtime) Config() *config.Config { return r.cfg }
