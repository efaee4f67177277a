package graph

import (
	"encoding/json"
	"runtime"
	"testing"
)

// BenchmarkParsePage reports what one parsed 40-meeting page keeps while it waits for the
// store writer (retained-B/page), beside the size of its JSON (body-B).
func BenchmarkParsePage(b *testing.B) {
	body := deltaPage(40)
	const held = 100
	pages := make([]page, held)
	var before, after runtime.MemStats
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range pages {
			pg, err := parsePage(body)
			if err != nil {
				b.Fatal(err)
			}
			pages[i] = pg
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		clear(pages)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/held, "retained-B/page")
	b.ReportMetric(float64(len(body)), "body-B")
	_ = json.Valid(body)
}

// BenchmarkWalkPage is the cold start's second pass over every delta page (after jsonvalid.Valid):
// locating the events and reading their head properties.
func BenchmarkWalkPage(b *testing.B) {
	body := deltaPage(40)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := walkPage(body); err != nil {
			b.Fatal(err)
		}
	}
}
