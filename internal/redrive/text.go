package redrive

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/track"
)

// WriteText writes the report for people: one line per batch, what became
// of it, then the counts.
func (r *Report) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	name := r.Lambda
	if r.Function != r.Lambda {
		name += " (function " + r.Function + ")"
	}
	for _, n := range r.Notes {
		fmt.Fprintf(b, "note: %s\n", n)
	}
	if len(r.Batches) == 0 {
		fmt.Fprintf(b, "%s: nothing to redrive\n", name)
		return b.Flush()
	}
	if r.DryRun {
		fmt.Fprintf(b, "%s: dry run, nothing is delivered or removed; %d batch%s would be redriven:\n", name, len(r.Batches), es(len(r.Batches)))
	} else {
		fmt.Fprintf(b, "%s: %d batch%s:\n", name, len(r.Batches), es(len(r.Batches)))
	}
	for _, x := range r.Batches {
		mark := map[string]string{OutcomeRedriven: "✓", OutcomeFailed: "✗", OutcomeLost: "✗", OutcomeNotAttempted: "·", OutcomeWouldRedrive: "→"}[x.Outcome]
		fmt.Fprintf(b, "  %s %s %s %s–%s, given up %s (%s): ", mark, cmp.Or(x.Event, x.Stream), x.ShardID,
			x.StartSequenceNumber, x.EndSequenceNumber, x.GivenUpAt.Format("2006-01-02T15:04:05.000Z07:00"), x.Condition)
		execs := "executions " + strings.Join(x.ExecutionIDs, ", ")
		if len(x.ExecutionIDs) == 1 {
			execs = "execution " + x.ExecutionIDs[0]
		} else if len(x.ExecutionIDs) == 0 {
			execs = "executions unknown"
		}
		switch x.Outcome {
		case OutcomeRedriven:
			fmt.Fprintf(b, "redriven, %d record%s (%s)", x.Records, s(x.Records), execs)
		case OutcomeWouldRedrive:
			fmt.Fprintf(b, "%d record%s in retention (%s)", x.Records, s(x.Records), execs)
		case OutcomeFailed:
			fmt.Fprintf(b, "failed again (%s): %s; its failure record is kept", execs, firstLine(x.NewError))
		case OutcomeLost:
			fmt.Fprintf(b, "lost, the stream no longer holds any of its %d record%s", x.Lost, s(x.Lost))
		case OutcomeNotAttempted:
			fmt.Fprintf(b, "not attempted (%s): %s; its failure record is kept", execs, x.NewError)
		}
		fmt.Fprintln(b)
		if x.Lost > 0 {
			who := "their execution ids are unknown (the tracker's log holds none of them)"
			if len(x.LostExecutionIDs) > 0 {
				who = "executions " + strings.Join(x.LostExecutionIDs, ", ")
			}
			fmt.Fprintf(b, "      %d record%s lost (%s): %s\n", x.Lost, s(x.Lost), x.LostReason, who)
		}
		if x.Outcome == OutcomeRedriven && x.NewError != "" {
			fmt.Fprintf(b, "      %s\n", x.NewError)
		}
		if x.Where != "" && x.Outcome != OutcomeRedriven {
			fmt.Fprintf(b, "      the failure record: %s\n", x.Where)
		}
	}
	if r.DryRun {
		fmt.Fprintf(b, "dry run: %d batch%s would be redriven, %d lost\n", len(r.Batches)-r.Lost, es(len(r.Batches)-r.Lost), r.Lost)
	} else {
		fmt.Fprintf(b, "%d redriven, %d failed again, %d lost, %d not attempted\n", r.Redriven, r.Failed, r.Lost, r.NotAttempted)
	}
	return b.Flush()
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return first
}

// ExecutionReport is what redriving one execution did: every failure
// record that holds a record of it, of every function subscribed to the
// events of its workflow.
type ExecutionReport struct {
	WorkflowID  string    `json:"workflow_id"`
	ExecutionID string    `json:"execution_id"`
	DryRun      bool      `json:"dry_run"`
	Reports     []*Report `json:"reports"`
	// Totals of the reports.
	Batches      int `json:"batches"`
	Redriven     int `json:"redriven"`
	Failed       int `json:"failed"`
	Lost         int `json:"lost"`
	NotAttempted int `json:"not_attempted"`
	LostRecords  int `json:"lost_records"`
	// Message says it in one sentence, for the page.
	Message string `json:"message"`
}

// ForExecution redrives the failure records that hold a record of one
// execution: of each lambda subscribed to an event of the workflow's flow,
// in flow order, with run (a backend's redrive of one lambda). Only
// lambdas with something for the execution are in the report.
func ForExecution(ctx context.Context, c *config.Config, workflowID, executionID string, dryRun bool, run func(context.Context, Options) (*Report, error)) (*ExecutionReport, error) {
	w, err := track.Check(c, workflowID, executionID)
	if err != nil {
		return nil, err
	}
	out := &ExecutionReport{WorkflowID: workflowID, ExecutionID: executionID, DryRun: dryRun, Reports: []*Report{}}
	var lambdas []string
	for _, ev := range w.Flow {
		for _, l := range c.SubscribersOf(ev) {
			if !slices.Contains(lambdas, l) {
				lambdas = append(lambdas, l)
			}
		}
	}
	for _, l := range lambdas {
		rep, err := run(ctx, Options{Lambda: l, Executions: []string{executionID}, DryRun: dryRun})
		if err != nil {
			return nil, fmt.Errorf("redrive %s: %w", l, err)
		}
		if len(rep.Batches) == 0 {
			continue
		}
		out.Reports = append(out.Reports, rep)
		out.Batches += len(rep.Batches)
		out.Redriven += rep.Redriven
		out.Failed += rep.Failed
		out.Lost += rep.Lost
		out.NotAttempted += rep.NotAttempted
		out.LostRecords += rep.LostRecords
	}
	out.Message = out.message()
	return out, nil
}

func (e *ExecutionReport) message() string {
	if e.Batches == 0 {
		return fmt.Sprintf("No function of %s has a failure record that holds execution %s: nothing to redrive.", e.WorkflowID, e.ExecutionID)
	}
	if e.DryRun {
		return fmt.Sprintf("%d batch%s of execution %s would be redriven, %d lost.", e.Batches-e.Lost, es(e.Batches-e.Lost), e.ExecutionID, e.Lost)
	}
	var parts []string
	if e.Redriven > 0 {
		parts = append(parts, fmt.Sprintf("%d batch%s redriven", e.Redriven, es(e.Redriven)))
	}
	if e.Failed > 0 {
		var errs []string
		for _, r := range e.Reports {
			for _, b := range r.Batches {
				if b.Outcome == OutcomeFailed {
					errs = append(errs, r.Lambda+": "+firstLine(b.NewError))
				}
			}
		}
		parts = append(parts, fmt.Sprintf("%d failed again (%s)", e.Failed, strings.Join(errs, "; ")))
	}
	if e.NotAttempted > 0 {
		parts = append(parts, fmt.Sprintf("%d not attempted, after a batch of the same shard failed", e.NotAttempted))
	}
	if e.LostRecords > 0 {
		parts = append(parts, fmt.Sprintf("%d record%s lost: the stream no longer holds %s", e.LostRecords, s(e.LostRecords), map[bool]string{true: "it", false: "them"}[e.LostRecords == 1]))
	}
	return "Execution " + e.ExecutionID + ": " + strings.Join(parts, "; ") + "."
}
