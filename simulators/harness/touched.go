package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// A process's working set over a span of time (Linux): ClearRefs at its start clears the
// accessed bits of every page the process maps, and ReadTouched at its end sums the pages
// accessed since (smaps' Referenced). RSS counts every page mapped, among them the program
// file's pages the kernel mapped around the ones a fault needed and those only the start-up
// ran; the pages touched say how much of it the steady state uses.

// ClearRefs clears the accessed bits of the pages of process pid (/proc/<pid>/clear_refs).
func ClearRefs(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("1"), 0); err != nil {
		return fmt.Errorf("clear the accessed bits of process %d: %w", pid, err)
	}
	return nil
}

// Touched is the memory a process accessed since ClearRefs, split as RSS is (Usage).
type Touched struct {
	AnonBytes int64 // in mappings of no file: heap, stacks, C allocations
	FileBytes int64 // in mappings of a file: the program file's pages above all
}

// ReadTouched reads /proc/<pid>/smaps.
func ReadTouched(pid int) (Touched, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return Touched{}, err
	}
	return parseTouched(b)
}

// parseTouched sums smaps' Referenced lines by mapping: a mapping's header is "start-end perms
// offset dev inode [path]", and one of inode 0 is of no file ([heap], [stack], anonymous).
func parseTouched(b []byte) (Touched, error) {
	var t Touched
	file, headers := false, 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.Contains(k, " ") && !strings.Contains(k, "-") {
			if k != "Referenced" {
				continue
			}
			f := strings.Fields(v)
			if headers == 0 || len(f) != 2 || f[1] != "kB" {
				return Touched{}, fmt.Errorf("smaps: unexpected line %q", line)
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return Touched{}, fmt.Errorf("smaps: unexpected line %q", line)
			}
			if file {
				t.FileBytes += n << 10
			} else {
				t.AnonBytes += n << 10
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 5 || !strings.Contains(f[0], "-") {
			return Touched{}, fmt.Errorf("smaps: unexpected line %q", line)
		}
		headers++
		file = f[4] != "0"
	}
	if err := sc.Err(); err != nil {
		return Touched{}, fmt.Errorf("smaps: %w", err)
	}
	if headers == 0 {
		return Touched{}, fmt.Errorf("smaps: no mapping")
	}
	return t, nil
}
