package agent

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/otj-edge/otj-edge/agent/metrics"
	"github.com/otj-edge/otj-edge/device/cisco"
	"github.com/otj-edge/otj-edge/sync/source"
)

// jsonNames are a struct type's JSON keys.
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// /metrics reads the sources' and drivers' reports through the JSON the MQTT metrics carry: a
// key renamed there would leave a series at zero without this test.
func TestMetricsReadTheKeysTheReportsHave(t *testing.T) {
	stats := jsonNames(reflect.TypeFor[source.Stats]())
	for _, k := range jsonNames(reflect.TypeFor[metrics.Source]()) {
		assert.Contains(t, stats, k, "sync/source.Stats has no %q: metrics.Source reads a key the sources do not report", k)
	}
	notify := jsonNames(reflect.TypeFor[source.NotifyStats]())
	for _, k := range jsonNames(reflect.TypeFor[metrics.Notifications]()) {
		assert.Contains(t, notify, k, "sync/source.NotifyStats has no %q: metrics.Notifications reads a key the sources do not report", k)
	}
	push := jsonNames(reflect.TypeFor[cisco.Stats]())
	for _, k := range jsonNames(reflect.TypeFor[metrics.PushStats]()) {
		assert.Contains(t, push, k, "cisco.Stats has no %q: metrics.PushStats reads a key the driver does not report", k)
	}
}
