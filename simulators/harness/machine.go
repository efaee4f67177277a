package harness

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// MachineCPU is the machine's CPU time so far, summed over its CPUs, in clock ticks, by what it
// went to (/proc/stat's "cpu" line, Linux). On a virtual machine Steal is the time the
// hypervisor gave the CPUs to someone else: a run whose steal rose was measured on a slower
// machine than its neighbours, whatever the code did.
type MachineCPU struct {
	Busy  uint64 // user, nice, system, irq, softirq (guest time is inside user and nice)
	Idle  uint64 // idle, iowait
	Steal uint64
}

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseMachineCPU(line)
}

// parseMachineCPU reads /proc/stat's first line: "cpu user nice system idle iowait irq softirq
// steal guest guest_nice" (kernels before 2.6.11 end before steal).
func parseMachineCPU(line string) (MachineCPU, error) {
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return MachineCPU{}, fmt.Errorf("/proc/stat: want a first line \"cpu user nice system idle iowait irq softirq [steal …]\", got %q", line)
	}
	var n [8]uint64
	for i := range n {
		if i+1 >= len(f) {
			break // no steal column
		}
		v, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return MachineCPU{}, fmt.Errorf("/proc/stat: column %d of %q: %w", i+1, line, err)
		}
		n[i] = v
	}
	return MachineCPU{Busy: n[0] + n[1] + n[2] + n[5] + n[6], Idle: n[3] + n[4], Steal: n[7]}, nil
}

// StealPercent is the share of the CPUs' time from a to b that was stolen, in percent.
func StealPercent(a, b MachineCPU) (float64, error) {
	total := (b.Busy + b.Idle + b.Steal) - (a.Busy + a.Idle + a.Steal)
	if b.Busy < a.Busy || b.Idle < a.Idle || b.Steal < a.Steal || total == 0 {
		return 0, errors.New("machine CPU counters did not advance")
	}
	return 100 * float64(b.Steal-a.Steal) / float64(total), nil
}
