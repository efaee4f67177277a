package main

// The Poly calendar service's share of the footprint target: 100 Poly endpoints polling every
// minute (design.md, "Footprint"). Derived from BenchmarkServePoll (device/poly), the server's
// work for one steady-state poll of a room with 40 meetings.
func init() {
	afterBenchmarks = append(afterBenchmarks, func(rep *Report) {
		b, ok := rep.Benchmarks["BenchmarkServePoll"]
		if !ok || b.NsPerOp == 0 {
			return
		}
		const endpoints, pollsPerSecond = 100, 1.0 / 60
		rep.Figures["poly_poll_server_us"] = b.NsPerOp / 1e3
		rep.Figures["poly_100_endpoints_core_percent"] = b.NsPerOp * endpoints * pollsPerSecond / 1e9 * 100
	})
}
