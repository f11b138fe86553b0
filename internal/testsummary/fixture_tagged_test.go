//go:build testsummary_fixture

package testsummary

import "testing"

// The tests TestScriptsTestListsSkips runs scripts/test on, built only
// with -tags testsummary_fixture: one passes, one skips as a test does
// when the machine lacks a tool.

func TestFixturePasses(t *testing.T) {}

func TestFixtureSkips(t *testing.T) {
	t.Skip("SKIP: the fixture's tool is not installed")
}
