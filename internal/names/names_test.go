package names

import (
	"strings"
	"testing"
)

// TestMonitoringNames: the alarm topic is per stack (topics are regional);
// the dashboard also carries the region, because dashboards are global to
// an account.
func TestMonitoringNames(t *testing.T) {
	if got := AlarmTopic("orders-dev"); got != "orders-dev-alarms" {
		t.Errorf("AlarmTopic = %q", got)
	}
	if err := CheckTopic(AlarmTopic(strings.Repeat("s", MaxStackName))); err != nil {
		t.Errorf("the topic of the longest stack name: %v", err)
	}
	if got := Dashboard("orders-dev", "order", "eu-west-1"); got != "orders-dev-order-eu-west-1" {
		t.Errorf("Dashboard = %q", got)
	}
	if Dashboard("s", "w", "eu-west-1") == Dashboard("s", "w", "us-east-1") {
		t.Error("two regions share a dashboard name")
	}
	for _, bad := range []string{"", "a.fifo", "a b", strings.Repeat("t", MaxTopicName+1)} {
		if CheckTopic(bad) == nil {
			t.Errorf("CheckTopic(%q) = nil", bad)
		}
	}
}
