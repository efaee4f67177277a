package mosquitto

import (
	"context"
	"errors"
	"testing"
)

// ForTest starts a broker for a test and closes it when the test ends. Without mosquitto it
// falls back to the embedded broker, except under CI, where the test fails. A test that needs
// mosquitto itself (Options.RequireMosquitto) is skipped locally and fails under CI when it is
// missing. On failure the broker's log is printed.
func ForTest(t testing.TB, opts Options) *Broker {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	b, err := Start(context.Background(), opts)
	if errors.Is(err, ErrNoMosquitto) && !InCI() {
		t.Skipf("this test needs the real broker: %v", err)
	}
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s broker log:\n%s", b.Kind(), b.Log())
		}
		_ = b.Close()
	})
	return b
}
