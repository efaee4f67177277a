package packaging_test

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/packaging"
)

// The .rpm is inspected here in Go (the RPM file format: lead, signature header, header,
// compressed cpio payload), so the tests need no rpm tools on this Debian machine.

// RPM header tags used below (rpmtag.h).
const (
	tagName        = 1000
	tagVersion     = 1001
	tagRelease     = 1002
	tagArch        = 1022
	tagPreIn       = 1023
	tagPostIn      = 1024
	tagPreUn       = 1025
	tagPostUn      = 1026
	tagFileModes   = 1030
	tagFileFlags   = 1037
	tagFileUser    = 1039
	tagFileGroup   = 1040
	tagPreInProg   = 1085
	tagDirIndexes  = 1116
	tagBaseNames   = 1117
	tagDirNames    = 1118
	tagPayloadComp = 1125

	fileConfig    = 1 << 0 // %config
	fileNoReplace = 1 << 4 // %config(noreplace)
)

type rpmValue struct {
	strs []string
	ints []int64
}

type rpmFile struct {
	mode  os.FileMode // permission bits and type (S_IFDIR, S_IFREG)
	user  string
	group string
	flags int64
	data  []byte
}

type rpmPackage struct {
	tags  map[int]rpmValue
	files map[string]*rpmFile
}

func (p *rpmPackage) str(tag int) string {
	if v := p.tags[tag].strs; len(v) > 0 {
		return v[0]
	}
	return ""
}

func readRPM(t *testing.T, path string) *rpmPackage {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Greater(t, len(raw), 96)
	require.Equal(t, []byte{0xed, 0xab, 0xee, 0xdb}, raw[:4], "RPM lead magic")
	r := bytes.NewReader(raw[96:])
	_, sigSize, err := readRPMHeader(r)
	require.NoError(t, err, "signature header")
	if pad := (8 - sigSize%8) % 8; pad > 0 {
		_, err := r.Seek(int64(pad), io.SeekCurrent)
		require.NoError(t, err)
	}
	tags, _, err := readRPMHeader(r)
	require.NoError(t, err, "header")
	p := &rpmPackage{tags: tags, files: map[string]*rpmFile{}}

	dirs, bases, idx := tags[tagDirNames].strs, tags[tagBaseNames].strs, tags[tagDirIndexes].ints
	modes, flags := tags[tagFileModes].ints, tags[tagFileFlags].ints
	users, groups := tags[tagFileUser].strs, tags[tagFileGroup].strs
	require.Len(t, idx, len(bases))
	for i, base := range bases {
		m := uint32(modes[i])
		mode := os.FileMode(m & 0o777)
		if m&0o170000 == 0o040000 {
			mode |= os.ModeDir
		}
		p.files[dirs[idx[i]]+base] = &rpmFile{mode: mode, user: users[i], group: groups[i], flags: flags[i]}
	}

	require.Equal(t, "gzip", p.str(tagPayloadComp), "nfpm.yaml asks for gzip, which Go reads")
	zr, err := gzip.NewReader(r)
	require.NoError(t, err)
	payload, err := io.ReadAll(zr)
	require.NoError(t, err)
	for name, data := range readCPIO(t, payload) {
		f := p.files[strings.TrimPrefix(name, ".")]
		require.NotNil(t, f, "payload file %s is in the header", name)
		f.data = data
	}
	return p
}

// readRPMHeader reads one header structure: magic, index entries, data store.
func readRPMHeader(r *bytes.Reader) (map[int]rpmValue, int, error) {
	var head struct {
		Magic    [3]byte
		Version  byte
		Reserved [4]byte
		Count    uint32
		Size     uint32
	}
	if err := binary.Read(r, binary.BigEndian, &head); err != nil {
		return nil, 0, err
	}
	if head.Magic != [3]byte{0x8e, 0xad, 0xe8} {
		return nil, 0, errors.New("bad header magic")
	}
	entries := make([]struct{ Tag, Type, Offset, Count int32 }, head.Count)
	if err := binary.Read(r, binary.BigEndian, entries); err != nil {
		return nil, 0, err
	}
	data := make([]byte, head.Size)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, 0, err
	}
	tags := map[int]rpmValue{}
	for _, e := range entries {
		var v rpmValue
		off := int(e.Offset)
		switch e.Type {
		case 6, 8, 9: // STRING, STRING_ARRAY, I18NSTRING
			for range e.Count {
				end := bytes.IndexByte(data[off:], 0)
				if end < 0 {
					return nil, 0, fmt.Errorf("tag %d: unterminated string", e.Tag)
				}
				v.strs = append(v.strs, string(data[off:off+end]))
				off += end + 1
			}
		case 3: // INT16
			for i := range int(e.Count) {
				v.ints = append(v.ints, int64(binary.BigEndian.Uint16(data[off+2*i:])))
			}
		case 4: // INT32
			for i := range int(e.Count) {
				v.ints = append(v.ints, int64(int32(binary.BigEndian.Uint32(data[off+4*i:]))))
			}
		}
		tags[int(e.Tag)] = v
	}
	return tags, 16 + 16*int(head.Count) + int(head.Size), nil
}

// readCPIO reads a "newc" cpio archive (the RPM payload) into name → regular file contents.
func readCPIO(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	align := func(n int) int { return (n + 3) &^ 3 }
	for pos := 0; ; {
		require.GreaterOrEqual(t, len(b)-pos, 110, "truncated cpio")
		h := b[pos : pos+110]
		require.Equal(t, "070701", string(h[:6]), "newc cpio")
		field := func(i int) int {
			n, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			require.NoError(t, err)
			return int(n)
		}
		mode, size, nameSize := field(1), field(6), field(11)
		name := string(b[pos+110 : pos+110+nameSize-1])
		pos = align(pos + 110 + nameSize)
		if name == "TRAILER!!!" {
			return out
		}
		if mode&0o170000 == 0o100000 {
			out[name] = b[pos : pos+size]
		}
		pos = align(pos + size)
	}
}

func TestRPMContents(t *testing.T) {
	p := packages(t)
	example, err := os.ReadFile("config.example.yaml")
	require.NoError(t, err)
	for goarch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		t.Run(goarch, func(t *testing.T) {
			pkg := readRPM(t, p.rpm[goarch])
			assert.Equal(t, "otj-edge", pkg.str(tagName))
			assert.Equal(t, "1.0.0", pkg.str(tagVersion))
			assert.Equal(t, "1", pkg.str(tagRelease))
			assert.Equal(t, rpmArch(goarch), pkg.str(tagArch))

			want := map[string]string{
				"/usr/bin/otj-edge":                        "-rwxr-xr-x root:root",
				"/usr/lib/systemd/system/otj-edge.service": "-rw-r--r-- root:root",
				"/etc/otj-edge":                            "drwxr-x--- root:otj-edge",
				"/etc/otj-edge/config.yaml":                "-rw-r----- root:otj-edge config(noreplace)",
				"/etc/otj-edge/environment":                "-rw-r----- root:otj-edge config(noreplace)",
			}
			for path, w := range want {
				f := pkg.files[path]
				require.NotNil(t, f, "%s is packaged", path)
				got := fmt.Sprintf("%s %s:%s", f.mode, f.user, f.group)
				if f.flags&fileConfig != 0 {
					got += " config"
					if f.flags&fileNoReplace != 0 {
						got += "(noreplace)"
					}
				}
				assert.Equal(t, w, got, path)
			}
			assert.NotContains(t, pkg.files, "/lib/systemd/system/otj-edge.service", "RPM distributions keep units in /usr/lib")
			assert.NotContains(t, pkg.files, "/var/lib/otj-edge", "the state directory is made on install, kept on erase")

			assert.Equal(t, packaging.SystemdUnit, string(pkg.files["/usr/lib/systemd/system/otj-edge.service"].data))
			assert.Equal(t, string(example), string(pkg.files["/etc/otj-edge/config.yaml"].data))
			bin, err := elf.NewFile(bytes.NewReader(pkg.files["/usr/bin/otj-edge"].data))
			require.NoError(t, err)
			assert.Equal(t, machine, bin.Machine, "the binary is built for %s", goarch)

			for tag, script := range map[int]string{tagPreIn: "scripts/preinstall.sh", tagPostIn: "scripts/rpm/post", tagPreUn: "scripts/rpm/preun", tagPostUn: "scripts/rpm/postun"} {
				src, err := os.ReadFile(script)
				require.NoError(t, err)
				assert.Equal(t, string(src), pkg.str(tag), "scriptlet %s", script)
			}
			assert.Equal(t, "/bin/sh", pkg.str(tagPreInProg))
		})
	}
}

// TestRPMScriptlets runs the .rpm's scriptlets in a throwaway root the way rpm does, with its
// argument conventions (%pre/%post: 1 install, 2 upgrade; %preun/%postun: 0 erase, 1 upgrade)
// and the payload laid out with the header's owners and modes between them.
func TestRPMScriptlets(t *testing.T) {
	p := packages(t)
	pkg := readRPM(t, p.rpm[runtime.GOARCH])
	r := newSysroot(t, p.root)

	// Stage the scriptlets and the payload in the sysroot (under /root, which only root reads).
	stage := r.path("/root/rpm")
	for tag, name := range map[int]string{tagPreIn: "pre", tagPostIn: "post", tagPreUn: "preun", tagPostUn: "postun"} {
		require.NoError(t, os.MkdirAll(stage, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(stage, name), []byte(pkg.str(tag)), 0o700))
	}
	var paths []string
	for path := range pkg.files {
		paths = append(paths, path)
	}
	sort.Strings(paths) // a directory before what is in it
	var lay, unlay strings.Builder
	for _, path := range paths {
		f := pkg.files[path]
		if f.mode.IsDir() {
			fmt.Fprintf(&lay, "install -d -m %04o -o %s -g %s %s\n", f.mode.Perm(), f.user, f.group, path)
			continue
		}
		src := filepath.Join("/root/rpm/payload", path)
		require.NoError(t, os.MkdirAll(filepath.Dir(r.path(src)), 0o700))
		require.NoError(t, os.WriteFile(r.path(src), f.data, 0o600))
		fmt.Fprintf(&lay, "install -D -m %04o -o %s -g %s %s %s\n", f.mode.Perm(), f.user, f.group, src, path)
		fmt.Fprintf(&unlay, "rm -f %s\n", path)
	}
	install := "sh /root/rpm/pre 1\n" + lay.String() + "sh /root/rpm/post 1\n"
	upgrade := "sh /root/rpm/pre 2\n" + lay.String() + "sh /root/rpm/post 2\nsh /root/rpm/preun 1\nsh /root/rpm/postun 1\n"
	erase := "sh /root/rpm/preun 0\n" + unlay.String() + "sh /root/rpm/postun 0\n"
	const wants = "/etc/systemd/system/multi-user.target.wants/otj-edge.service"
	enabled := func() bool { _, code := r.sh(t, "test -L "+wants); return code == 0 }

	out := r.must(t, install)
	assert.Contains(t, out, "otj-edge is installed and enabled, but not started")
	assert.True(t, enabled(), "enabled at boot")
	assert.Equal(t, packaging.SystemdUnit, r.must(t, "cat $(readlink -f "+wants+")"))
	assert.Equal(t, map[string]string{
		"/var/lib/otj-edge":         "otj-edge:otj-edge 700 directory",
		"/etc/otj-edge/config.yaml": "root:otj-edge 640 regular file",
	}, statAll(t, r, "/var/lib/otj-edge", "/etc/otj-edge/config.yaml"))
	r.must(t, "getent passwd otj-edge")

	out = r.must(t, upgrade)
	assert.NotContains(t, out, "not started", "no first-install advice on upgrade")
	assert.True(t, enabled(), "an upgrade keeps it enabled")

	r.must(t, "systemctl --no-reload disable otj-edge.service")
	r.must(t, upgrade)
	assert.False(t, enabled(), "an upgrade keeps the admin's disable")
	r.must(t, "systemctl --no-reload enable otj-edge.service")

	r.must(t, "echo 'site: kept' > /var/lib/otj-edge/otj-edge.db")
	r.must(t, erase)
	assert.False(t, enabled(), "erase disables the unit")
	assert.False(t, exists(t, r, "/usr/bin/otj-edge"))
	assert.Equal(t, "site: kept\n", r.must(t, "cat /var/lib/otj-edge/otj-edge.db"), "erase keeps the state (RPM has no purge)")
}
