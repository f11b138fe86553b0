package deploy

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestShellJoin: the command line xflow prints reads back, in sh, as the
// arguments it ran.
func TestShellJoin(t *testing.T) {
	args := []string{"deploy", "--all", "--app", "/tmp/my app/cdk.out", "it's", "", "a\"b$c`d", "--method=direct"}
	line := shellJoin(args)
	if !strings.HasPrefix(line, "deploy --all --app '/tmp/my app/cdk.out'") {
		t.Errorf("line = %s", line)
	}
	out, err := exec.Command("sh", "-c", "set -- "+line+`; for a in "$@"; do printf '[%s]\n' "$a"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range args {
		want = append(want, "["+a+"]")
	}
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("sh reads %q back as %q", line, got)
	}
}
