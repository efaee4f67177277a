package web

import (
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// Runtime is the agent process's own figures (GET /api/runtime): what a soak run or a
// technician watches for leaks. OpenFiles and RSSBytes come from /proc and are absent where
// there is none (Windows, macOS).
type Runtime struct {
	Goroutines int `json:"goroutines"`
	// OpenFiles counts the entries of /proc/self/fd: files, sockets, pipes, the database.
	OpenFiles *int `json:"open_files,omitempty"`
	// HeapBytes is the memory held by live and not yet swept heap objects.
	HeapBytes uint64 `json:"heap_bytes"`
	// GoBytes is all memory the Go runtime has mapped (heap, stacks, its own structures).
	GoBytes uint64 `json:"go_bytes"`
	// RSSBytes is the resident set size (VmRSS).
	RSSBytes      *int64    `json:"rss_bytes,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	GoVersion     string    `json:"go_version"`
}

func (s *Server) apiRuntime(*http.Request) (any, error) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	metrics.Read(samples)
	started := s.opts.Agent.Started()
	rt := Runtime{
		Goroutines:    runtime.NumGoroutine(),
		HeapBytes:     sampleUint(samples[0]),
		GoBytes:       sampleUint(samples[1]),
		StartedAt:     started,
		UptimeSeconds: s.clock.Now().Sub(started).Seconds(),
		GoVersion:     runtime.Version(),
	}
	if n, err := openFiles(); err == nil {
		rt.OpenFiles = &n
	}
	if n, err := residentBytes(); err == nil {
		rt.RSSBytes = &n
	}
	return rt, nil
}

func sampleUint(s metrics.Sample) uint64 {
	if s.Value.Kind() == metrics.KindUint64 {
		return s.Value.Uint64()
	}
	return 0
}

// openFiles counts this process's open descriptors (Linux: /proc/self/fd).
func openFiles() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	// The directory read itself holds one descriptor: do not count it.
	return len(names) - 1, nil
}

// residentBytes reads VmRSS from /proc/self/status (Linux).
func residentBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, os.ErrNotExist
}
