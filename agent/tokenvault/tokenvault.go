// Package tokenvault keeps the secrets the agent obtains at run time (OAuth refresh tokens of a
// signed-in service account, later the Webex driver's) encrypted at rest in the state
// directory. It is a leaf of the kit: it imports no project package.
//
// Layout under the state directory, apart from the database:
//
//	tokenvault.key         32 random bytes, the AES-256 key (0600, created on first Put)
//	tokens/NAME.sealed     version byte, 12-byte nonce, AES-256-GCM ciphertext (0600)
//
// Nothing in tokens/ is readable without the key file. The name is bound into each sealed
// file as additional data, so a sealed file renamed to another name does not open. Why not
// azidentity's cache: on Linux its key lives in the kernel keyring and is lost at reboot, and
// an appliance must keep its sign-in for months.
package tokenvault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// ErrNotFound is returned by Get when nothing is stored under the name.
var ErrNotFound = errors.New("no token stored")

const (
	keyFile   = "tokenvault.key"
	tokensDir = "tokens"
	version   = 1
	nonceLen  = 12
)

// Vault is the token store of one state directory. Its methods may be called from several
// processes (the agent and the command line): every write replaces the file atomically.
type Vault struct {
	stateDir string
}

// New is the vault of stateDir; nothing is created until the first Put.
func New(stateDir string) *Vault { return &Vault{stateDir: stateDir} }

// Stamp identifies one stored version of a token (its nonce): two reads with the same stamp
// saw the same write, whatever the clocks and file times say.
type Stamp string

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$`)

// path is the sealed file of name: the name itself when it is a plain file name, else its hex.
func (v *Vault) path(name string) string {
	file := name
	if !safeName.MatchString(name) {
		file = "x-" + hex.EncodeToString([]byte(name))
	}
	return filepath.Join(v.stateDir, tokensDir, file+".sealed")
}

// Path is where name's sealed token lives (for messages and tests).
func (v *Vault) Path(name string) string { return v.path(name) }

// KeyPath is the key file's path.
func (v *Vault) KeyPath() string { return filepath.Join(v.stateDir, keyFile) }

// key reads the key, creating it when create is set and there is none.
func (v *Vault) key(create bool) ([]byte, error) {
	path := v.KeyPath()
	k, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := os.MkdirAll(v.stateDir, 0o700); err != nil {
			return nil, fmt.Errorf("token vault: create the state directory: %w", err)
		}
		k = make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("token vault: new key: %w", err)
		}
		f, cerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(cerr, fs.ErrExist) { // another process made it first: use theirs
			return v.key(false)
		}
		if cerr != nil {
			return nil, fmt.Errorf("token vault: create the key file: %w", cerr)
		}
		_, werr := f.Write(k)
		serr := f.Sync()
		if cerr := f.Close(); werr == nil {
			werr = errors.Join(serr, cerr)
		}
		if werr != nil {
			_ = os.Remove(path)
			return nil, fmt.Errorf("token vault: write the key file: %w", werr)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token vault: read the key file: %w", err)
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("token vault: the key file %s is damaged (%d bytes, want 32); delete it and every file in %s, then sign in again",
			path, len(k), filepath.Join(v.stateDir, tokensDir))
	}
	return k, nil
}

func aead(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func additional(name string) []byte { return []byte("otj-edge tokenvault v1\x00" + name) }

// Put seals plaintext under name, replacing what was there, and returns the new version's stamp.
func (v *Vault) Put(name string, plaintext []byte) (Stamp, error) {
	key, err := v.key(true)
	if err != nil {
		return "", err
	}
	g, err := aead(key)
	if err != nil {
		return "", fmt.Errorf("token vault: %w", err)
	}
	nonce := make([]byte, nonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("token vault: nonce: %w", err)
	}
	out := append([]byte{version}, nonce...)
	out = g.Seal(out, nonce, plaintext, additional(name))
	dir := filepath.Join(v.stateDir, tokensDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("token vault: create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".put-*") // 0600
	if err != nil {
		return "", fmt.Errorf("token vault: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(out)
	serr := f.Sync()
	if cerr := f.Close(); werr == nil {
		werr = errors.Join(serr, cerr)
	}
	if werr == nil {
		werr = os.Rename(tmp, v.path(name))
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("token vault: write %s: %w", v.path(name), werr)
	}
	return Stamp(hex.EncodeToString(nonce)), nil
}

// Get opens name's token: ErrNotFound when none is stored.
func (v *Vault) Get(name string) ([]byte, Stamp, error) {
	sealed, err := os.ReadFile(v.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("token vault: %w", err)
	}
	if len(sealed) < 1+nonceLen || sealed[0] != version {
		return nil, "", fmt.Errorf("token vault: %s is not a sealed token; delete it and sign in again", v.path(name))
	}
	key, err := v.key(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("token vault: the key file %s is missing, so %s cannot be opened; sign in again", v.KeyPath(), v.path(name))
	}
	if err != nil {
		return nil, "", err
	}
	g, err := aead(key)
	if err != nil {
		return nil, "", fmt.Errorf("token vault: %w", err)
	}
	nonce := sealed[1 : 1+nonceLen]
	plain, err := g.Open(nil, nonce, sealed[1+nonceLen:], additional(name))
	if err != nil {
		return nil, "", fmt.Errorf("token vault: %s does not open with the key in %s (damaged, or from another box); sign in again", v.path(name), v.KeyPath())
	}
	return plain, Stamp(hex.EncodeToString(nonce)), nil
}

// Current is the stamp of name's stored version without opening it ("" when none is stored),
// so a long-running reader notices a new sign-in or a sign-out cheaply.
func (v *Vault) Current(name string) (Stamp, error) {
	f, err := os.Open(v.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("token vault: %w", err)
	}
	defer f.Close()
	head := make([]byte, 1+nonceLen)
	if _, err := io.ReadFull(f, head); err != nil || head[0] != version {
		return "", fmt.Errorf("token vault: %s is not a sealed token", v.path(name))
	}
	return Stamp(hex.EncodeToString(head[1:])), nil
}

// Delete removes name's token; it reports whether there was one.
func (v *Vault) Delete(name string) (bool, error) {
	err := os.Remove(v.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("token vault: %w", err)
	}
	return true, nil
}
