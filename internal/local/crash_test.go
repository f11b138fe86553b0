package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local"
)

// Environment of a child process that runs a local runtime (see TestMain).
const (
	childConfig = "XFLOW_LOCAL_TEST_CHILD_CONFIG"
	childState  = "XFLOW_LOCAL_TEST_CHILD_STATE"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(childConfig); path != "" {
		os.Exit(runChild(path, os.Getenv(childState)))
	}
	os.Exit(m.Run())
}

// runChild is the test binary re-executed as a runtime in a process of
// its own, as `xflow run` runs one, so that a test can SIGKILL it.
func runChild(path, state string) int {
	c, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	rt := local.New(c, local.Options{StateDir: state})
	if err := rt.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.Stop(sctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChild runs a runtime of the config in a child process and waits
// until it is running.
func startChild(t *testing.T, path, state string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childConfig+"="+path, childState+"="+state, config.EnvTimeoutTime+"="+slowMachine[config.EnvTimeoutTime])
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	eventually(t, 3*time.Minute, "the child runtime did not start", func() bool {
		select {
		case <-exited:
			t.Fatalf("the child runtime exited: %v", cmd.ProcessState)
		default:
		}
		_, running := local.Running(state)
		return running
	})
	return cmd
}

// summarized returns the executions that reached FileSummarized.
func summarized(t *testing.T, state string, c *config.Config) map[string]map[string]any {
	t.Helper()
	s, err := local.OpenStreams(state, c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := s.Records("FileSummarized", 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, r := range recs {
		var e map[string]any
		if err := json.Unmarshal(r.Data, &e); err != nil {
			t.Fatal(err)
		}
		out[e["execution_id"].(string)] = e
	}
	return out
}

// TestCrashRecovery SIGKILLs the runtime twice in the middle of 1,000
// wordcount executions, published from this process while it runs (half
// before the first kill, half after the restart), and starts it again
// each time: within a second of each kill no worker of the killed runtime
// is alive; every execution finishes, with the right summary; and the
// tracker saw all six events of each.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	needPython(t)
	const n = 1000
	path, err := filepath.Abs("../../examples/wordcount/xflow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := loadConfig(t, path)
	state := t.TempDir()
	publishRange := func(from, to int) {
		for i := from; i < to; i++ {
			p := fmt.Sprintf(`{"execution_id": "crash-%04d", "message": "one two two three three three"}`, i)
			if _, err := local.Publish(context.Background(), state, c, "FileUploaded", []byte(p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	child := startChild(t, path, state)
	publishRange(0, n/2)
	done := 0
	for kill := 1; kill <= 2; kill++ {
		// Well into the run, with batches in flight at every step.
		before := done
		eventually(t, 3*time.Minute, fmt.Sprintf("no 50 executions finished before kill %d", kill), func() bool {
			done = len(summarized(t, state, c))
			return done >= before+50
		})
		workers := childrenOf(t, child.Process.Pid)
		if len(workers) == 0 {
			t.Errorf("kill %d: the runtime has no worker process to check", kill)
		}
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		published := n / 2 * kill
		t.Logf("kill %d: SIGKILLed the runtime with %d of %d published executions summarized, and %d workers", kill, done, published, len(workers))
		if done == published {
			t.Fatalf("kill %d: all %d executions finished before the kill; the test proves nothing", kill, published)
		}
		// Workers die with their runtime (the parent-death signal).
		for _, pid := range workers {
			for alive(pid) {
				if time.Since(killed) > time.Second {
					t.Errorf("kill %d: worker %d still runs %s after its runtime was killed", kill, pid, time.Since(killed).Round(time.Millisecond))
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		child = startChild(t, path, state)
		if kill == 1 {
			publishRange(n/2, n)
		}
	}

	var got map[string]map[string]any
	eventually(t, 5*time.Minute, "not every execution finished after the restarts", func() bool {
		got = summarized(t, state, c)
		return len(got) == n
	})
	want := map[string]any{"total": float64(3), "counts": map[string]any{"one": float64(1), "two": float64(2), "three": float64(3)}}
	for id, e := range got {
		if b, _ := json.Marshal(e["summary"]); string(b) != mustJSON(want) {
			t.Errorf("%s: summary %s, want %s", id, b, mustJSON(want))
		}
	}
	// The trackers are mappings too: wait until they caught up, then stop
	// gracefully (exit 0) and check.
	logs, err := local.OpenLogs(state)
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	eventually(t, 3*time.Minute, "the tracker did not record six events of every execution", func() bool {
		for missing < n {
			events := map[string]bool{}
			for _, e := range trackerEntriesNoFail(logs, fmt.Sprintf("crash-%04d", missing)) {
				events[e] = true
			}
			if len(events) != 6 {
				return false
			}
			missing++
		}
		return true
	})
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the runtime did not stop on SIGTERM", func() bool {
		_, running := local.Running(state)
		return !running
	})
}

// childrenOf are the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var out []int
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(p); ok && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// alive tells whether a process runs: it exists and is not a zombie.
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != "Z" && state != "X"
}

// procStat reads a process's parent and state from /proc/<pid>/stat.
func procStat(pid int) (ppid int, state string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", false
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	rest := string(b[bytes.LastIndexByte(b, ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// trackerEntriesNoFail returns the event names the tracker logged for an
// execution of the wordcount workflow, or none yet.
func trackerEntriesNoFail(logs *local.Logs, execution string) []string {
	var out []string
	var token *string
	for {
		page, err := logs.GetLogEvents(context.Background(), getInput("/xFlow/track/compute_word_count", execution, token))
		if err != nil {
			return out
		}
		for _, e := range page.Events {
			var entry struct {
				EventName string `json:"event_name"`
			}
			json.Unmarshal([]byte(*e.Message), &entry)
			out = append(out, entry.EventName)
		}
		if token != nil && *page.NextForwardToken == *token {
			return out
		}
		token = page.NextForwardToken
	}
}
