// Package mosquitto runs a real MQTT broker for tests, benchmarks and soak runs: Debian's
// mosquitto (`apt-get install mosquitto`) on free loopback ports, with a config written to a
// temporary directory. It can stop and start the broker again on the same ports (the broker
// going away and coming back), kill it, and add a TLS listener, users and an ACL file.
//
// When mosquitto is not installed the embedded mochi broker takes its place behind the same API,
// except under CI (the CI environment variable set), where a missing mosquitto is an error: CI
// must test against the real broker. Features only mosquitto has (ACL files) need it everywhere
// (Options.RequireMosquitto).
//
// It is a test harness, never imported by the product.
package mosquitto

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kinds of broker.
const (
	KindMosquitto = "mosquitto"
	KindEmbedded  = "embedded" // mochi-mqtt, in process
)

// ErrNoMosquitto is returned when mosquitto is needed but not installed.
var ErrNoMosquitto = errors.New("mosquitto is not installed (apt-get install mosquitto, or set OTJ_MOSQUITTO to its path)")

// Options describe the broker to start.
type Options struct {
	// Dir holds the config, password and ACL files, the persistence file and the log. Empty: a
	// new temporary directory, removed by Close.
	Dir string
	// Persistence keeps sessions, subscriptions, queued and retained messages across Stop and
	// Start (mosquitto writes its database on a clean stop; the embedded broker keeps its state
	// in memory). Without it a stopped broker comes back empty.
	Persistence bool
	// TLS adds a TLS listener (TLSURL).
	TLS *TLS
	// Users are usernames and passwords; when set, anonymous clients are refused.
	Users map[string]string
	// ACL is the text of a mosquitto acl_file (mosquitto only: needs RequireMosquitto).
	ACL string
	// MaxQueuedMessages is how many QoS 1 messages the broker queues per offline client; 0 means
	// no limit, so a test broker never drops messages silently (mosquitto's default is 1000).
	MaxQueuedMessages int
	// Extra are more mosquitto.conf lines, appended at the end (mosquitto only).
	Extra []string
	// RequireMosquitto makes Start fail with ErrNoMosquitto instead of falling back to the
	// embedded broker.
	RequireMosquitto bool
	// Embedded picks the embedded broker even when mosquitto is installed (to test the fallback).
	Embedded bool
	// Logger receives the broker's log lines at debug level (default: discarded; Log() keeps
	// them anyway).
	Logger *slog.Logger
}

// TLS is the TLS listener's material (PEM files).
type TLS struct {
	CertFile string // server certificate (for 127.0.0.1)
	KeyFile  string
	// ClientCAFile, when set, makes client certificates mandatory: signed by this CA.
	ClientCAFile string
	// IdentityAsUsername uses the client certificate's common name as the username for ACLs
	// (mosquitto's use_identity_as_username; ignored by the embedded broker).
	IdentityAsUsername bool
}

// Broker is a running (or stopped) broker.
type Broker struct {
	opts    Options
	kind    string
	dir     string
	tempDir bool
	tcpAddr string
	tlsAddr string

	mu      sync.Mutex
	running bool
	// mosquitto
	bin    string
	conf   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *logBuffer
	// embedded
	emb *embedded
}

// Available reports the mosquitto binary's path, if it is installed.
func Available() (string, bool) {
	if p := os.Getenv("OTJ_MOSQUITTO"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
		return "", false
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, true
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// InCI reports whether the CI environment variable asks for real parts only.
func InCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "0" && v != "false"
}

// Start starts a broker on free loopback ports.
func Start(ctx context.Context, opts Options) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{opts: opts, dir: opts.Dir, log: &logBuffer{}}
	if b.dir == "" {
		d, err := os.MkdirTemp("", "otj-mosquitto-")
		if err != nil {
			return nil, fmt.Errorf("broker directory: %w", err)
		}
		b.dir, b.tempDir = d, true
	}
	bin, ok := Available()
	switch {
	case opts.Embedded && !opts.RequireMosquitto:
		b.kind = KindEmbedded
	case ok:
		b.kind, b.bin = KindMosquitto, bin
	case opts.RequireMosquitto || InCI():
		b.cleanDir()
		return nil, ErrNoMosquitto
	default:
		b.kind = KindEmbedded
	}
	if opts.ACL != "" && b.kind != KindMosquitto {
		b.cleanDir()
		return nil, fmt.Errorf("an ACL file needs mosquitto: %w", ErrNoMosquitto)
	}
	// A port picked free can be taken before the broker binds it: try a few times.
	var err error
	for range 3 {
		if b.tcpAddr, err = freePort(); err != nil {
			break
		}
		if opts.TLS != nil {
			if b.tlsAddr, err = freePort(); err != nil {
				break
			}
		}
		b.conf = "" // the ports are part of the config
		if err = b.start(ctx); err == nil || !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	if err != nil {
		b.cleanDir()
		return nil, err
	}
	return b, nil
}

// Kind is KindMosquitto or KindEmbedded.
func (b *Broker) Kind() string { return b.kind }

// URL is the plain listener, tcp://127.0.0.1:P.
func (b *Broker) URL() string { return "tcp://" + b.tcpAddr }

// TLSURL is the TLS listener, ssl://127.0.0.1:P ("" without Options.TLS).
func (b *Broker) TLSURL() string {
	if b.tlsAddr == "" {
		return ""
	}
	return "ssl://" + b.tlsAddr
}

// Addr is the plain listener's host:port.
func (b *Broker) Addr() string { return b.tcpAddr }

// Dir is the broker's directory.
func (b *Broker) Dir() string { return b.dir }

// Running reports whether the broker is up.
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// Log is what the broker logged so far (mosquitto's own log; the embedded broker's lines).
func (b *Broker) Log() string { return b.log.String() }

// Stop shuts the broker down cleanly (mosquitto: SIGTERM, which saves the persistence file);
// clients see their connection close. Start brings it back on the same ports.
func (b *Broker) Stop() error { return b.stop(syscall.SIGTERM) }

// Kill stops the broker abruptly (SIGKILL for mosquitto: nothing is saved).
func (b *Broker) Kill() error { return b.stop(syscall.SIGKILL) }

// Start starts a stopped broker again on the same ports.
func (b *Broker) Start(ctx context.Context) error {
	if b.Running() {
		return nil
	}
	return b.start(ctx)
}

// Close stops the broker for good and removes a temporary directory.
func (b *Broker) Close() error {
	err := b.stop(syscall.SIGTERM)
	if b.emb != nil {
		b.emb.close()
	}
	b.cleanDir()
	return err
}

func (b *Broker) cleanDir() {
	if b.tempDir {
		_ = os.RemoveAll(b.dir)
	}
}

func (b *Broker) start(ctx context.Context) error {
	if b.kind == KindEmbedded {
		if b.emb == nil || !b.opts.Persistence {
			if b.emb != nil {
				b.emb.close()
			}
			emb, err := newEmbedded(b.opts, b.log)
			if err != nil {
				return err
			}
			b.emb = emb
		}
		if err := b.emb.listen(b.tcpAddr, b.tlsAddr); err != nil {
			return err
		}
		b.setRunning(true)
		return nil
	}
	if b.conf == "" {
		conf, err := b.writeConfig()
		if err != nil {
			return err
		}
		b.conf = conf
	}
	return b.startMosquitto(ctx)
}

func (b *Broker) setRunning(v bool) {
	b.mu.Lock()
	b.running = v
	b.mu.Unlock()
}

// writeConfig writes mosquitto.conf (and the password and ACL files) into the directory.
func (b *Broker) writeConfig() (string, error) {
	o := b.opts
	var c strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&c, format+"\n", args...) }
	line("# written by otj-edge simulators/mosquitto")
	line("per_listener_settings false")
	if os.Geteuid() == 0 {
		// mosquitto started as root drops to the "mosquitto" user, which cannot read a root-owned
		// temporary directory; stay as the user that started it.
		line("user root")
	}
	line("log_dest stderr")
	line("log_type error")
	line("log_type warning")
	line("log_type notice")
	line("log_type information")
	line("connection_messages true")
	line("log_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S")
	line("max_queued_messages %d", o.MaxQueuedMessages)
	if o.Persistence {
		line("persistence true")
		line("persistence_location %s%c", b.dir, filepath.Separator)
		line("autosave_interval 1800")
	} else {
		line("persistence false")
	}
	if len(o.Users) > 0 {
		pw := filepath.Join(b.dir, "passwd")
		if err := writePasswords(pw, o.Users); err != nil {
			return "", err
		}
		line("allow_anonymous false")
		line("password_file %s", pw)
	} else {
		line("allow_anonymous true")
	}
	if o.ACL != "" {
		acl := filepath.Join(b.dir, "acl")
		if err := os.WriteFile(acl, []byte(o.ACL), 0o600); err != nil {
			return "", fmt.Errorf("write acl file: %w", err)
		}
		line("acl_file %s", acl)
	}
	host, port, _ := net.SplitHostPort(b.tcpAddr)
	line("listener %s %s", port, host)
	if o.TLS != nil {
		host, port, _ := net.SplitHostPort(b.tlsAddr)
		line("listener %s %s", port, host)
		line("certfile %s", o.TLS.CertFile)
		line("keyfile %s", o.TLS.KeyFile)
		if o.TLS.ClientCAFile != "" {
			line("cafile %s", o.TLS.ClientCAFile)
			line("require_certificate true")
			if o.TLS.IdentityAsUsername {
				line("use_identity_as_username true")
			}
		}
	}
	for _, l := range o.Extra {
		line("%s", l)
	}
	path := filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(c.String()), 0o600); err != nil {
		return "", fmt.Errorf("write mosquitto.conf: %w", err)
	}
	return path, nil
}

// writePasswords makes a password file with mosquitto_passwd (the tool operators use).
func writePasswords(path string, users map[string]string) error {
	tool, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		tool = "/usr/bin/mosquitto_passwd"
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return fmt.Errorf("write password file: %w", err)
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		out, err := exec.Command(tool, "-b", path, u, users[u]).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mosquitto_passwd %s: %w: %s", u, err, out)
		}
	}
	return nil
}

func (b *Broker) startMosquitto(ctx context.Context) error {
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Dir = b.dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	ready := make(chan struct{})
	exited := make(chan struct{})
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			l := sc.Text()
			b.log.add(l)
			b.opts.Logger.Debug("mosquitto", "line", l)
			if strings.Contains(l, " running") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		<-scanDone // Wait must not run before the pipe is drained
		_ = cmd.Wait()
		b.setRunning(false)
		close(exited)
	}()
	b.mu.Lock()
	b.cmd, b.exited = cmd, exited
	b.mu.Unlock()
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-ready:
		b.setRunning(true)
		return nil
	case <-exited:
		return fmt.Errorf("mosquitto exited at start-up (port %s in use?): %s", b.tcpAddr, b.log.tail(10))
	case <-t.C:
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("mosquitto did not start within 15s: %s", b.log.tail(10))
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
		return ctx.Err()
	}
}

func (b *Broker) stop(sig syscall.Signal) error {
	if b.kind == KindEmbedded {
		if b.emb != nil && b.Running() {
			b.emb.stopListening()
			if !b.opts.Persistence || sig == syscall.SIGKILL {
				b.emb.close()
				b.emb = nil
			}
		}
		b.setRunning(false)
		return nil
	}
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	_ = cmd.Process.Signal(sig)
	// A SIGTERM that lands just as mosquitto starts can be lost (its main loop sets its "run"
	// flag after installing the handler), so it is sent again until mosquitto is gone.
	again := time.NewTicker(500 * time.Millisecond)
	defer again.Stop()
	limit := time.NewTimer(10 * time.Second)
	defer limit.Stop()
	for {
		select {
		case <-exited:
			return nil
		case <-again.C:
			_ = cmd.Process.Signal(sig)
		case <-limit.C:
			_ = cmd.Process.Kill()
			<-exited
			return errors.New("mosquitto did not stop within 10s; killed")
		}
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

// logBuffer keeps the last lines of the broker's log.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

const logKeep = 2000

func (l *logBuffer) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
	if len(l.lines) > logKeep {
		l.lines = append([]string(nil), l.lines[len(l.lines)-logKeep/2:]...)
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], " | ")
}

// Port is the plain listener's port number.
func (b *Broker) Port() int {
	_, p, _ := net.SplitHostPort(b.tcpAddr)
	n, _ := strconv.Atoi(p)
	return n
}
