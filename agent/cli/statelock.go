package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// stateLockName is the lock file in the state directory. Two agents on one state directory
// would both push to every codec and take turns throwing each other off the MQTT broker (one
// client id), so `otj-edge run` holds an exclusive OS lock on this file while it runs: flock
// on Unix, LockFileEx on Windows. The OS drops the lock when the process ends in any way
// (kill -9, a crash, a power cut), so a lock file left behind never blocks a start. The file
// itself stays: deleting it on exit would let a third agent lock a new file while a second
// still holds the old one.
const stateLockName = "otj-edge.lock"

// errLockHeld is what the platform's tryLock returns when another process holds the lock.
var errLockHeld = errors.New("held by another process")

// stateLock is a running agent's hold on its state directory.
type stateLock struct {
	f    *os.File
	path string
}

// stateLockedError says which process holds the state directory (exit 2: a second agent is a
// configuration mistake, and restarting cannot fix it).
type stateLockedError struct {
	dir, lockFile string
	holder        lockHolder
}

func (e *stateLockedError) Error() string {
	who := "another process"
	if h := e.holder; h.pid > 0 {
		who = "pid " + strconv.Itoa(h.pid)
		if h.host != "" {
			who += " on host " + h.host
		}
		if !h.started.IsZero() {
			who += ", running since " + h.started.Format(time.RFC3339)
		}
	}
	return fmt.Sprintf("another otj-edge is already running with state directory %s (%s; lock file %s). "+
		"Only one agent may use a state directory: stop the other one first (systemctl stop otj-edge, or the "+
		"otj-edge service on Windows), or give this one its own state_dir", e.dir, who, e.lockFile)
}

// lockHolder is what the lock file says about the process holding it.
type lockHolder struct {
	pid     int
	host    string
	started time.Time
}

func (h lockHolder) String() string {
	return fmt.Sprintf("pid: %d\nhost: %s\nstarted: %s\n", h.pid, h.host, h.started.UTC().Format(time.RFC3339))
}

func parseLockHolder(data []byte) lockHolder {
	var h lockHolder
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "pid":
			h.pid, _ = strconv.Atoi(v)
		case "host":
			h.host = v
		case "started":
			h.started, _ = time.Parse(time.RFC3339, v)
		}
	}
	return h
}

// lockStateDir takes the state directory for this process, creating it if needed, and writes
// this process's pid, host name and start time into the lock file for whoever is refused
// next. It fails at once (never waits) when another process holds it.
func lockStateDir(dir string, now time.Time) (*stateLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	path := filepath.Join(dir, stateLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if errors.Is(err, errLockHeld) {
			// The holder writes its details right after locking; in that instant the file may
			// still be empty, and the message then says "another process".
			data, _ := os.ReadFile(path)
			return nil, &stateLockedError{dir: dir, lockFile: path, holder: parseLockHolder(data)}
		}
		return nil, fmt.Errorf("lock state directory: lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	me := lockHolder{pid: os.Getpid(), host: host, started: now}
	if err := writeLockHolder(f, me); err != nil {
		_ = unlock(f)
		f.Close()
		return nil, fmt.Errorf("lock state directory: write %s: %w", path, err)
	}
	return &stateLock{f: f, path: path}, nil
}

func writeLockHolder(f *os.File, h lockHolder) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(h.String()), 0); err != nil {
		return err
	}
	return f.Sync()
}

// release empties the lock file (so it names no process that has gone) and lets go of the lock.
func (l *stateLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	errs := []error{l.f.Truncate(0), unlock(l.f), l.f.Close()}
	l.f = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release %s: %w", l.path, err)
	}
	return nil
}
