package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/redrive"
	"github.com/xflowhq/xflow/internal/track"
)

// Local mode's side of redrive (package redrive): failure records are the
// lines of failures/<function>.jsonl, records come back from the stream's
// segments, and the batch is delivered through the runtime's warm workers
// of that function only. A batch delivered is marked redriven in
// failures/redriven/<function>.jsonl; one that fails again is marked with
// its new error.
//
// Only the runtime that runs a state folder invokes its functions. A
// redrive asked of another process (xflow redrive --local, or a server
// serving a runtime of another process) goes to that runtime over its
// loopback HTTP server, with the token it writes to runtime.token in the
// state folder (readable by its user only).

// controlPath is the runtime's route for redrives of other processes.
const controlPath = "/xflow/redrive"

// controlHeader carries the runtime's control token.
const controlHeader = "X-Xflow-Control"

// ErrNotRunning: no runtime runs on the state folder.
var ErrNotRunning = errors.New("no local runtime runs on the state folder")

// Redrive delivers again, through this runtime's workers, what a function
// gave up on (see package redrive). One redrive runs at a time, so that
// two never deliver the same batch.
func (r *Runtime) Redrive(ctx context.Context, opts redrive.Options) (*redrive.Report, error) {
	if err := redrive.CheckLambda(r.cfg, opts.Lambda); err != nil {
		return nil, err
	}
	r.redriveMu.Lock()
	defer r.redriveMu.Unlock()
	src := newLocalSource(r.stateDir, r.cfg, opts.Lambda)
	src.region, src.identity = r.region, r.roleARN
	name := names.New(r.cfg.General.NamePrefix).Function(opts.Lambda)
	for _, f := range r.functions {
		if f.name == name {
			src.fn = f
		}
	}
	return redrive.Run(ctx, src, r.cfg, opts)
}

// Redrive redrives on a state folder: through the runtime that runs it,
// in this process or another; a dry run needs none (it reads the files).
// Without a runtime, anything but a dry run is ErrNotRunning.
func Redrive(ctx context.Context, stateDir string, c *config.Config, opts redrive.Options) (*redrive.Report, error) {
	if err := redrive.CheckLambda(c, opts.Lambda); err != nil {
		return nil, err
	}
	if info, running := Running(stateDir); running {
		return redriveRemote(ctx, stateDir, info, opts)
	}
	if !opts.DryRun {
		return nil, fmt.Errorf("%w %s", ErrNotRunning, stateDir)
	}
	src := newLocalSource(stateDir, c, opts.Lambda)
	src.region, src.identity = region(c), roleARN(c)
	return redrive.Run(ctx, src, c, opts)
}

// localSource is a function's failures file, its streams and its workers.
type localSource struct {
	stateDir string
	cfg      *config.Config
	lambda   string
	name     string
	fn       *function // nil without a runtime, or when nothing invokes it locally
	region   string
	identity string
}

func newLocalSource(stateDir string, c *config.Config, lambda string) *localSource {
	return &localSource{stateDir: stateDir, cfg: c, lambda: lambda, name: names.New(c.General.NamePrefix).Function(lambda)}
}

// localHandle is the Handle of a local failure record.
type localHandle struct{ key string }

func (s *localSource) Function() string { return s.name }

func (s *localSource) EventSource() (string, string) { return s.region, s.identity }

// Failures reads the dead letters of the function that no redrive has
// delivered yet.
func (s *localSource) Failures(ctx context.Context) ([]*redrive.Failure, []string, error) {
	var notes []string
	for _, sub := range s.cfg.Subscriptions {
		for _, who := range sub.Subscribers {
			if who.Lambda == s.lambda && sub.Settings(who).OnFailure == config.OnFailureNone {
				notes = append(notes, fmt.Sprintf("its subscription to %s has on_failure: none: the batches it gave up on were dropped", sub.Event))
			}
		}
	}
	path := failuresPath(s.stateDir, s.name)
	marks, err := readMarks(s.stateDir, s.name)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notes, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var out []*redrive.Failure
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		fl, rec, err := redrive.ParseRecord(sc.Bytes())
		if err != nil {
			continue // a line cut short by a crash
		}
		key := deadLetterKey(rec.RequestContext.RequestID, fl.StartSequenceNumber, fl.EndSequenceNumber)
		m, marked := marks[key]
		if marked && m.Outcome == redrive.OutcomeRedriven {
			continue
		}
		if marked && m.Error != "" {
			fl.Error = m.Error
		}
		fl.ID = rec.RequestContext.RequestID
		fl.Where = fmt.Sprintf("%s, line %d", path, n)
		fl.Handle = localHandle{key: key}
		out = append(out, fl)
	}
	return out, notes, sc.Err()
}

// Fetch reads a batch back from its stream. Local streams keep every
// record; what is missing was damaged on disk, and its quarantine
// description names its executions.
func (s *localSource) Fetch(ctx context.Context, f *redrive.Failure) (redrive.Fetched, error) {
	var out redrive.Fetched
	start, err1 := parseSeq(f.StartSequenceNumber)
	end, err2 := parseSeq(f.EndSequenceNumber)
	if err := errors.Join(err1, err2); err != nil {
		return out, err
	}
	st, ok, err := openExistingStream(s.stateDir, f.Stream)
	if err != nil {
		return out, err
	}
	if ok {
		defer st.close()
		rd := st.newReadOnlyReader()
		defer rd.close()
	read:
		for pos := start; pos <= end; {
			recs, err := rd.read(pos, 100, 1<<62)
			if err != nil {
				return out, err
			}
			if len(recs) == 0 {
				break
			}
			for _, rec := range recs {
				if rec.Seq > end {
					break read
				}
				out.Records = append(out.Records, redriveRecords([]Record{rec})[0])
				pos = rec.Next
			}
		}
	}
	if out.Lost = f.BatchSize - len(out.Records); out.Lost > 0 {
		out.LostReason = "damaged on disk (see quarantine/" + f.Stream + " in the state folder)"
		if !ok {
			out.LostReason = "the stream " + f.Stream + " is not in the state folder any more"
		}
		ds, err := Damages(s.stateDir)
		if err != nil {
			return out, err
		}
		for _, d := range ds {
			if d.Stream != f.Stream {
				continue
			}
			at, err := parseSeq(d.SequenceNumber)
			if err != nil || at+d.Length <= start || at > end {
				continue
			}
			for _, id := range d.ExecutionIDs {
				if !slices.Contains(out.LostExecutions, id) {
					out.LostExecutions = append(out.LostExecutions, id)
				}
			}
		}
	} else {
		out.Lost = 0
	}
	return out, nil
}

// Invoke delivers the batch to the function's workers.
func (s *localSource) Invoke(ctx context.Context, f *redrive.Failure, payload []byte) ([]byte, string, error) {
	if s.fn == nil {
		return nil, "", fmt.Errorf("%s has no worker in this runtime: it subscribes to no event", s.name)
	}
	resp, fe, err := s.fn.invoke(ctx, payload)
	if err != nil {
		return nil, "", err
	}
	if fe != nil {
		return resp, fe.Error(), nil
	}
	return resp, "", nil
}

func (s *localSource) Done(ctx context.Context, f *redrive.Failure) error {
	return writeMark(s.stateDir, s.name, redriveMark{Key: f.Handle.(localHandle).key, Time: time.Now().UTC(), Outcome: redrive.OutcomeRedriven})
}

func (s *localSource) Keep(ctx context.Context, f *redrive.Failure, newError string) error {
	return writeMark(s.stateDir, s.name, redriveMark{Key: f.Handle.(localHandle).key, Time: time.Now().UTC(), Outcome: redrive.OutcomeFailed, Error: newError})
}

// Release: a line of a file needs no handing back.
func (s *localSource) Release(context.Context, []*redrive.Failure) {}

var _ redrive.Source = (*localSource)(nil)

// roleARN is the identity local mappings invoke with.
func roleARN(c *config.Config) string {
	role := c.AWS.LambdaExecutionRoleName
	if role == "" {
		role = "xflow-local"
	}
	return fmt.Sprintf("arn:aws:iam::%s:role/%s", account(c), role)
}

// tokenFile holds the runtime's control token.
const tokenFile = "runtime.token"

// newControl returns the control route of the runtime's HTTP server, with
// a new token written for the processes of this user.
func (r *Runtime) newControl() (http.Handler, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(b)
	path := filepath.Join(r.stateDir, tokenFile)
	tmp := path + ".tmp"
	os.Remove(tmp) // 0600 applies to a new file only
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write the runtime's control token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write the runtime's control token: %w", err)
	}
	return r.controlHandler(token), nil
}

// controlError is the control route's error answer.
type controlError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// controlHandler serves POST /xflow/redrive: redrive.Options in, the
// report out. It refuses requests without the token, and any a browser
// makes (an Origin header): only xflow's own processes call it.
func (r *Runtime) controlHandler(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		answer := func(status int, v any) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(v)
		}
		switch {
		case req.Method != http.MethodPost:
			answer(http.StatusMethodNotAllowed, controlError{"method_not_allowed", "POST only"})
			return
		case req.Header.Get("Origin") != "" || req.Header.Get(controlHeader) != token:
			answer(http.StatusForbidden, controlError{"forbidden", "the runtime's control route needs its token"})
			return
		}
		var opts redrive.Options
		dec := json.NewDecoder(io.LimitReader(req.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&opts); err != nil {
			answer(http.StatusBadRequest, controlError{"invalid_json", err.Error()})
			return
		}
		rep, err := r.Redrive(req.Context(), opts)
		switch {
		case errors.Is(err, redrive.ErrUnknownLambda):
			answer(http.StatusBadRequest, controlError{"unknown_lambda", err.Error()})
		case err != nil:
			answer(http.StatusInternalServerError, controlError{"redrive_failed", err.Error()})
		default:
			answer(http.StatusOK, rep)
		}
	})
}

// redriveRemote asks the runtime of another process to redrive.
func redriveRemote(ctx context.Context, stateDir string, info Info, opts redrive.Options) (*redrive.Report, error) {
	token, err := os.ReadFile(filepath.Join(stateDir, tokenFile))
	if err != nil {
		return nil, fmt.Errorf("the local runtime of %s (pid %d) runs, but its control token cannot be read (%w): it may be from an xflow without redrive; restart it", stateDir, info.PID, err)
	}
	body, _ := json.Marshal(opts)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, info.KinesisEndpoint+controlPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(controlHeader, strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the local runtime of %s (pid %d) to redrive: %w", stateDir, info.PID, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer of the local runtime (pid %d): %w", info.PID, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e controlError
		if json.Unmarshal(data, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		if e.Code == "unknown_lambda" {
			return nil, &redrive.LambdaError{Msg: e.Message}
		}
		return nil, fmt.Errorf("the local runtime (pid %d) could not redrive: %s", info.PID, e.Message)
	}
	var rep redrive.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("the local runtime's answer: %w", err)
	}
	return &rep, nil
}

// HealthOptions are track's tracker checks on a state folder: the
// tracker's log is in the log store, and the batches it gave up on in its
// failures file.
func HealthOptions(stateDir string) track.HealthOptions {
	return track.HealthOptions{Limiter: track.NewLimiter(0), State: TrackerState(stateDir)}
}

// TrackerState is track.HealthOptions.State locally: the tracker's dead
// letters not redriven stand for its failure queue's messages.
func TrackerState(stateDir string) func(ctx context.Context, tracker string) (*track.TrackerState, error) {
	var mu sync.Mutex
	return func(ctx context.Context, tracker string) (*track.TrackerState, error) {
		mu.Lock()
		defer mu.Unlock()
		src := newLocalSource(stateDir, &config.Config{}, "")
		src.name = tracker
		fs, _, err := src.Failures(ctx)
		if err != nil {
			return nil, err
		}
		n := len(fs)
		return &track.TrackerState{FailureQueue: failuresPath(stateDir, tracker), FailureQueueDepth: &n}, nil
	}
}
