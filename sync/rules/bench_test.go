package rules

import (
	"testing"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// BenchmarkResolveCorpus resolves the golden corpus round-robin, one invite per operation, on
// one goroutine: invites/s is the rate of one core. `make bench` reports it as
// rules_invites_per_sec (simulators/bench/rules.go).
func BenchmarkResolveCorpus(b *testing.B) {
	cases := loadCorpus(b)
	type item struct {
		p  *Profile
		ev calendar.Event
	}
	items := make([]item, len(cases))
	bytes := 0
	for i, c := range cases {
		items[i] = item{c.compile(b), c.event}
		bytes += len(c.event.BodyText())
	}
	b.ReportAllocs()
	b.SetBytes(int64(bytes / len(items)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		it := &items[i%len(items)]
		it.p.Resolve(corpusRoom, it.ev, corpusNow)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "invites/s")
}
