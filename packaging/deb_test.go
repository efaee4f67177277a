package packaging_test

import (
	"compress/gzip"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/packaging"
	"github.com/otj-edge/otj-edge/store"
)

// The secrets the example config references as ${NAME}, given through the environment file.
const testEnvironment = `OTJ_GRAPH_SECRET=pkg-test-graph-secret
OTJ_MQTT_PASSWORD=pkg-test-mqtt-password
OTJ_CODEC_PASSWORD=pkg-test-codec-password
OTJ_POLY_FJORDLINE=pkg-test-poly-password
`

// siteConfig is what the admin writes in place of the example: every address on loopback (tests
// never reach beyond it), the room and codec of the schema-1 store fixture.
const siteConfig = `site: pkg-test
state_dir: /var/lib/otj-edge
status:
  listen: "off"
integrations:
  - name: m365
    type: graph
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: ${OTJ_GRAPH_SECRET}
    token_url: https://127.0.0.1:9/contoso.onmicrosoft.com/oauth2/v2.0/token
    graph_url: https://127.0.0.1:9/v1.0
profiles:
  - name: default
endpoints:
  - name: codec-1
    type: cisco
    room: room-1@example.com
    address: 127.0.0.1:9
    username: admin
    password: ${OTJ_CODEC_PASSWORD}
`

// asService runs a command as the service does: as otj-edge, in its state directory, with the
// environment file's variables (what systemd's EnvironmentFile= gives it). A command that
// hangs is killed after two minutes (timeout passes SIGTERM on).
func asService(cmd string) string {
	return `cd /var/lib/otj-edge && timeout 120 setpriv --reuid=otj-edge --regid=otj-edge --init-groups ` +
		`sh -c 'set -a; . /etc/otj-edge/environment; set +a; umask 077; exec ` + cmd + `'`
}

// runAgentOnce starts the agent as the service would, waits for it to have opened the store
// and applied the config, and stops it with SIGTERM like systemd. It returns the agent's log.
func runAgentOnce(t *testing.T, r *sysroot) string {
	t.Helper()
	out := r.must(t, asService("otj-edge run")+` >/tmp/agent.log 2>&1 &
pid=$!
i=0
until grep -q "otj-edge started" /tmp/agent.log; do
	if ! kill -0 $pid 2>/dev/null; then echo "agent exited before starting:"; cat /tmp/agent.log; exit 1; fi
	i=$((i+1))
	if [ $i -gt 600 ]; then echo "agent did not start within 60 s:"; cat /tmp/agent.log; kill $pid; exit 1; fi
	sleep 0.1
done
kill -TERM $pid
status=0
wait $pid || status=$?
cat /tmp/agent.log
echo "agent exit $status"
`)
	require.Contains(t, out, "agent exit 0", "the agent stops cleanly on SIGTERM")
	return out
}

// statAll returns "owner:group mode type" for each path inside the sysroot.
func statAll(t *testing.T, r *sysroot, paths ...string) map[string]string {
	t.Helper()
	out := r.must(t, "stat -c '%n|%U:%G %a %F' "+strings.Join(paths, " "))
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, rest, ok := strings.Cut(line, "|")
		require.True(t, ok, line)
		got[name] = rest
	}
	return got
}

func exists(t *testing.T, r *sysroot, path string) bool {
	t.Helper()
	_, code := r.sh(t, "test -e "+path+" || test -L "+path)
	return code == 0
}

// TestDebLifecycle installs the .deb into a throwaway copy of this machine and takes it
// through a site's life: install, check the example config, configure and run, upgrade over a
// store an older release wrote (migrated, config kept), downgrade (refused with a clear
// message), remove (data kept), reinstall, purge (data gone).
func TestDebLifecycle(t *testing.T) {
	p := packages(t)
	r := newSysroot(t, p.root)
	oldDeb := "/pkgs/old/" + filepath.Base(p.deb[runtime.GOARCH])
	newDeb := "/pkgs/new/" + filepath.Base(p.newDeb)

	// Install: files, owners, modes, the user, the unit enabled but not started.
	out := r.must(t, "dpkg -i "+oldDeb)
	assert.Contains(t, out, "otj-edge is installed and enabled, but not started")
	assert.Contains(t, out, "sudo systemctl start otj-edge")
	assert.Equal(t, map[string]string{
		"/usr/bin/otj-edge":                                     "root:root 755 regular file",
		"/lib/systemd/system/otj-edge.service":                  "root:root 644 regular file",
		"/etc/otj-edge":                                         "root:otj-edge 750 directory",
		"/etc/otj-edge/config.yaml":                             "root:otj-edge 640 regular file",
		"/etc/otj-edge/environment":                             "root:otj-edge 640 regular file",
		"/var/lib/otj-edge":                                     "otj-edge:otj-edge 700 directory",
		"/usr/share/doc/otj-edge/examples/privileged-port.conf": "root:root 644 regular file",
		"/usr/share/otj-edge/grafana/otj-edge.json":             "root:root 644 regular file",
	}, statAll(t, r, "/usr/bin/otj-edge", "/lib/systemd/system/otj-edge.service", "/etc/otj-edge",
		"/etc/otj-edge/config.yaml", "/etc/otj-edge/environment", "/var/lib/otj-edge",
		"/usr/share/doc/otj-edge/examples/privileged-port.conf", "/usr/share/otj-edge/grafana/otj-edge.json"))
	example, err := os.ReadFile("config.example.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(example), r.must(t, "cat /etc/otj-edge/config.yaml"), "the config starts as the example")
	assert.Equal(t, packaging.SystemdUnit, r.must(t, "cat /lib/systemd/system/otj-edge.service"))
	assert.Equal(t, "/lib/systemd/system/otj-edge.service\n",
		r.must(t, "readlink /etc/systemd/system/multi-user.target.wants/otj-edge.service"), "enabled at boot")
	fields := strings.Split(strings.TrimSpace(r.must(t, "getent passwd otj-edge")), ":")
	require.Len(t, fields, 7)
	uid, err := strconv.Atoi(fields[2])
	require.NoError(t, err)
	assert.Less(t, uid, 1000, "a system user")
	assert.Equal(t, "/var/lib/otj-edge", fields[5])
	assert.Contains(t, fields[6], "nologin")
	conffiles := r.must(t, "dpkg-query -W -f='${Conffiles}' otj-edge")
	assert.Contains(t, conffiles, "/etc/otj-edge/config.yaml ", "upgrades never overwrite the config")
	assert.Contains(t, conffiles, "/etc/otj-edge/environment ")
	assert.Contains(t, r.must(t, "otj-edge version --modules=false"), "otj-edge v1.0.0 (commit test)", "the version make stamps")

	// The installed unit, with the installed binary, as systemd sees it.
	if _, code := r.sh(t, "command -v systemd-analyze"); code == 0 {
		r.must(t, "systemd-analyze verify /lib/systemd/system/otj-edge.service")
		requireExposureOK(t, r.must(t, "systemd-analyze security --offline=yes /lib/systemd/system/otj-edge.service"))
	} else {
		needSystemdAnalyze(t)
	}

	// otj-edge check on the installed example config: its secrets come from the environment file.
	out, code := r.sh(t, asService("otj-edge check --offline"))
	assert.Equal(t, 2, code, "a config error: %s", out)
	assert.Contains(t, out, "OTJ_GRAPH_SECRET", "names the missing variable")
	r.must(t, "cat > /etc/otj-edge/environment <<'EOF'\n"+testEnvironment+"EOF")
	assert.Equal(t, map[string]string{"/etc/otj-edge/environment": "root:otj-edge 640 regular file"},
		statAll(t, r, "/etc/otj-edge/environment"), "editing keeps the file's owner and mode")
	out = r.must(t, asService("otj-edge check --offline"))
	assert.Contains(t, out, "config ok: /etc/otj-edge/config.yaml (site oslo-hq: 2 rooms, 2 endpoints, 1 profiles, 1 integrations)")
	assert.Contains(t, out, "clock ok: ")
	assert.NotContains(t, out, "pkg-test-", "no secret is printed")
	out, code = r.sh(t, "setpriv --reuid=nobody --regid=nogroup --clear-groups cat /etc/otj-edge/environment")
	assert.NotEqual(t, 0, code, "other users cannot read the secrets")
	assert.Contains(t, out, "Permission denied")

	// Configure the site and run the agent once: the store appears in /var/lib/otj-edge.
	r.must(t, "cat > /etc/otj-edge/config.yaml <<'EOF'\n"+siteConfig+"EOF")
	runAgentOnce(t, r)
	assert.Equal(t, "otj-edge:otj-edge 600 regular file", statAll(t, r, "/var/lib/otj-edge/otj-edge.db")["/var/lib/otj-edge/otj-edge.db"])
	// An admin running check as root (it reads the store for the clock check) must not leave
	// root-owned files the agent could not open.
	assert.Contains(t, r.must(t, "set -a; . /etc/otj-edge/environment; otj-edge check --offline"), "clock ok: ")
	assert.Empty(t, r.must(t, "find /var/lib/otj-edge ! -user otj-edge"), "everything in the state directory stays the agent's")
	// A member of the otj-edge group reads the config but not the state directory: the clock
	// check says why it skipped the store.
	out = r.must(t, "set -a; . /etc/otj-edge/environment; setpriv --reuid=nobody --regid=otj-edge --clear-groups otj-edge check --offline")
	assert.Contains(t, out, "clock: not compared with the store, which this user cannot read (run check as root or as otj-edge)")
	// The package owns the unit: the hand-install commands send the admin to apt and systemctl.
	out, code = r.sh(t, "otj-edge service install")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "otj-edge was installed from a package, which installed and enabled its own unit: use systemctl start|stop|status otj-edge")
	out, code = r.sh(t, "otj-edge service uninstall")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "remove it with apt remove otj-edge")

	// An older release left a schema-1 store (the fixture the store's own migration test uses).
	fixture := gunzipFile(t, "../store/testdata/otj-edge-v1.db.gz")
	require.NoError(t, os.MkdirAll(r.path("/root"), 0o700))
	require.NoError(t, os.WriteFile(r.path("/root/otj-edge-v1.db"), fixture, 0o600))
	r.must(t, "rm -f /var/lib/otj-edge/otj-edge.db-wal /var/lib/otj-edge/otj-edge.db-shm && "+
		"install -o otj-edge -g otj-edge -m 600 /root/otj-edge-v1.db /var/lib/otj-edge/otj-edge.db")

	// Upgrade: the config and the environment are kept; the new version migrates the store.
	out = r.must(t, "dpkg -i "+newDeb)
	assert.Contains(t, out, "Unpacking otj-edge (1.1.0-1) over (1.0.0-1)")
	assert.NotContains(t, out, "not started", "the first-install advice is not repeated")
	assert.Equal(t, siteConfig, r.must(t, "cat /etc/otj-edge/config.yaml"), "the upgrade keeps the config")
	assert.Equal(t, testEnvironment, r.must(t, "cat /etc/otj-edge/environment"))
	assert.NotEmpty(t, r.must(t, "test -L /etc/systemd/system/multi-user.target.wants/otj-edge.service && echo enabled"))
	log := runAgentOnce(t, r)
	assert.Contains(t, log, "store: backed up before migrating")
	assert.Contains(t, log, "store: migrated")
	db := copyStore(t, r)
	assert.Equal(t, store.SchemaVersion(), pragmaInt(t, db, "user_version"), "migrated to this version's schema")
	var appVersion, pinned string
	require.NoError(t, db.QueryRow("SELECT app_version FROM schema_history WHERE version = ?", store.SchemaVersion()).Scan(&appVersion))
	assert.Equal(t, "v1.1.0", appVersion, "by the upgraded binary")
	require.NoError(t, db.QueryRow("SELECT cert_sha256 FROM endpoints WHERE name = 'codec-1'").Scan(&pinned))
	assert.Equal(t, "ab12", pinned, "pinned codec certificates survive the upgrade")
	assert.Equal(t, "otj-edge:otj-edge 600 regular file",
		statAll(t, r, "/var/lib/otj-edge/otj-edge.db.bak-v1")["/var/lib/otj-edge/otj-edge.db.bak-v1"], "the pre-migration backup")

	// Downgrade: the older binary refuses the newer store, says what to do, and leaves it alone.
	setUserVersion(t, r.path("/var/lib/otj-edge/otj-edge.db"), store.SchemaVersion()+1)
	before := fileSHA(t, r.path("/var/lib/otj-edge/otj-edge.db"))
	out = r.must(t, "dpkg -i "+oldDeb)
	assert.Contains(t, out, "downgrading otj-edge from 1.1.0-1 to 1.0.0-1")
	out, code = r.sh(t, asService("otj-edge run"))
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, fmt.Sprintf("database written by a newer otj-edge: /var/lib/otj-edge/otj-edge.db has schema version %d, this otj-edge knows up to %d; install the newer otj-edge again",
		store.SchemaVersion()+1, store.SchemaVersion()))
	assert.Equal(t, before, fileSHA(t, r.path("/var/lib/otj-edge/otj-edge.db")), "the newer store is not touched")
	out = r.must(t, asService("otj-edge check --offline"))
	assert.Contains(t, out, "warning: store: database written by a newer otj-edge", "check says so too")

	// Remove: the program and the unit go; the config, the secrets and the store stay.
	r.must(t, "dpkg -r otj-edge")
	for _, gone := range []string{"/usr/bin/otj-edge", "/lib/systemd/system/otj-edge.service"} {
		assert.False(t, exists(t, r, gone), "%s is removed", gone)
	}
	assert.Equal(t, siteConfig, r.must(t, "cat /etc/otj-edge/config.yaml"))
	assert.Equal(t, testEnvironment, r.must(t, "cat /etc/otj-edge/environment"))
	assert.Equal(t, before, fileSHA(t, r.path("/var/lib/otj-edge/otj-edge.db")), "removal keeps the store")
	assert.Equal(t, "config-files", r.must(t, "dpkg-query -W -f='${db:Status-Status}' otj-edge"))
	assert.Equal(t, "/dev/null\n", r.must(t, "readlink /etc/systemd/system/otj-edge.service"), "masked while removed")

	// Reinstall: enabled again, everything kept.
	r.must(t, "dpkg -i "+newDeb)
	assert.False(t, exists(t, r, "/etc/systemd/system/otj-edge.service"), "unmasked")
	assert.NotEmpty(t, r.must(t, "test -L /etc/systemd/system/multi-user.target.wants/otj-edge.service && echo enabled"))
	assert.Equal(t, siteConfig, r.must(t, "cat /etc/otj-edge/config.yaml"))

	// Purge: the config, the secrets, the store and every unit link are gone.
	r.must(t, "dpkg --purge otj-edge")
	for _, gone := range []string{"/etc/otj-edge", "/var/lib/otj-edge", "/usr/bin/otj-edge"} {
		assert.False(t, exists(t, r, gone), "%s is purged", gone)
	}
	assert.Empty(t, strings.TrimSpace(r.must(t, "find /etc/systemd /var/lib/systemd -name 'otj-edge*'")), "no unit links or helper state left")
	_, code = r.sh(t, "dpkg-query -W otj-edge 2>/dev/null")
	assert.NotEqual(t, 0, code, "dpkg no longer knows the package")
	// The system user stays, as Debian keeps system users (their files may exist elsewhere).
	r.must(t, "getent passwd otj-edge")
}

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return b
}

// copyStore opens a copy of the sysroot's store (reading the original would leave -shm files
// owned by root behind for the agent to trip on).
func copyStore(t *testing.T, r *sysroot) *sql.DB {
	t.Helper()
	dir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(r.path("/var/lib/otj-edge/otj-edge.db" + suffix))
		if suffix != "" && os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "otj-edge.db"+suffix), b, 0o600))
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "otj-edge.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func pragmaInt(t *testing.T, db *sql.DB, name string) int {
	t.Helper()
	var v int
	require.NoError(t, db.QueryRow("PRAGMA "+name).Scan(&v))
	return v
}

// setUserVersion writes SQLite's user_version (the store's schema version) into the database
// header in place, as a newer otj-edge would have left it. The agent checkpoints its WAL on a
// clean stop, so the header in the main file is the current one.
func setUserVersion(t *testing.T, path string, v int) {
	t.Helper()
	if fi, err := os.Stat(path + "-wal"); err == nil {
		require.Zero(t, fi.Size(), "the WAL was checkpointed at shutdown")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(v))
	_, err = f.WriteAt(b[:], 60) // user_version: 4 bytes, big-endian, at offset 60
	require.NoError(t, err)
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
