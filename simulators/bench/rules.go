package main

import (
	"fmt"
	"os"
	"strings"
)

// Rules figures, from the sync/rules benchmarks:
//   - rules_invites_per_sec: golden-corpus invites resolved per second on one core
//     (BenchmarkResolveCorpus runs on one goroutine); the target is ≥ 20,000.
//   - rules_worst_case_ns_per_byte: the slowest adversarial 10 MB input, per byte.
//   - rules_linearity_10mb_vs_1mb: the largest ratio of ns/byte at 10 MB to ns/byte at 1 MB
//     over the adversarial inputs; about 1 for linear code, 10 for quadratic.
func init() {
	afterBenchmarks = append(afterBenchmarks, rulesFigures)
}

const rulesPkg = "github.com/otj-edge/otj-edge/sync/rules"

func rulesFigures(rep *Report) {
	if b, ok := rep.Benchmarks["BenchmarkResolveCorpus"]; ok && b.Package == rulesPkg {
		if v, ok := b.Metrics["invites/s"]; ok {
			rep.Figures["rules_invites_per_sec"] = v
			if v < 20000 {
				fmt.Fprintf(os.Stderr, "rules: %.0f invites/s per core is below the 20,000 target\n", v)
			}
		}
	}
	worst, ratio := 0.0, 0.0
	for name, b := range rep.Benchmarks {
		if b.Package != rulesPkg || !strings.HasPrefix(name, "BenchmarkAdversarial/") || !strings.HasSuffix(name, "/10MB") {
			continue
		}
		big := b.Metrics["ns/byte"]
		small, ok := rep.Benchmarks[strings.TrimSuffix(name, "/10MB")+"/1MB"]
		if big > worst {
			worst = big
		}
		if ok && small.Metrics["ns/byte"] > 0 {
			if r := big / small.Metrics["ns/byte"]; r > ratio {
				ratio = r
			}
		}
	}
	if worst > 0 {
		rep.Figures["rules_worst_case_ns_per_byte"] = worst
	}
	if ratio > 0 {
		rep.Figures["rules_linearity_10mb_vs_1mb"] = ratio
	}
}
