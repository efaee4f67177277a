package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestSecretNeverPrints(t *testing.T) {
	s := New("hunter2-value")
	var logs strings.Builder
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "s", s)
	j, err := json.Marshal(struct{ S Secret }{s})
	require.NoError(t, err)
	y, err := yaml.Marshal(struct{ S Secret }{s})
	require.NoError(t, err)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s), logs.String(), string(j), string(y)} {
		assert.NotContains(t, out, "hunter2")
		assert.Contains(t, out, Redacted)
	}
	assert.Equal(t, "hunter2-value", s.Value())
	var back struct{ S Secret }
	require.NoError(t, yaml.Unmarshal([]byte("s: from-yaml\n"), &back))
	assert.Equal(t, "from-yaml", back.S.Value())
	assert.Error(t, yaml.Unmarshal([]byte("s: [a, b]\n"), &back), "a secret is a string")
}

// A config section of the future: the shapes a new source or driver's settings could take.
type future struct {
	Name     string `yaml:"name"`
	Password Secret `yaml:"password"`
	Unset    Secret `yaml:"unset"`
	Nested   struct {
		Token Secret `yaml:"token"`
	} `yaml:"nested"`
	Accounts []account          `yaml:"accounts"`
	ByName   map[string]account `yaml:"by_name"`
	Optional *account           `yaml:"optional"`
	Any      any                `yaml:"any"`
	inline   `yaml:",inline"`
	Plain    Secret   // no tag: the Go name
	hidden   Secret   //nolint:unused // unexported: a leaf's own business, not the config's
	Self     *future  `yaml:"self"`
	Bytes    []byte   `yaml:"bytes"`
	Strings  []string `yaml:"strings"`
}

type account struct {
	User string `yaml:"user"`
	Pass Secret `yaml:"pass"`
}

type inline struct {
	APIKey Secret `yaml:"api_key"`
}

func TestFindListsEverySecretWithItsPath(t *testing.T) {
	f := &future{Name: "n", Password: New("p-1"), Plain: New("p-plain"), hidden: New("p-hidden"),
		Accounts: []account{{User: "a", Pass: New("p-acc0")}, {User: "b"}, {User: "c", Pass: New("p-acc2")}},
		ByName:   map[string]account{"zed": {Pass: New("p-zed")}, "amy": {Pass: New("p-amy")}},
		Optional: &account{Pass: New("p-opt")},
		Any:      account{Pass: New("p-any")},
		inline:   inline{APIKey: New("p-key")},
		Bytes:    []byte("p-1"), Strings: []string{"p-1"},
	}
	f.Nested.Token = New("p-tok")
	f.Self = f // a cycle ends the walk, not the process
	var got []string
	for _, fl := range Find(f) {
		got = append(got, fl.Path+"="+fl.Secret.Value())
	}
	assert.Equal(t, []string{
		"password=p-1", "nested.token=p-tok", "accounts[0].pass=p-acc0", "accounts[2].pass=p-acc2",
		`by_name["amy"].pass=p-amy`, `by_name["zed"].pass=p-zed`, "optional.pass=p-opt", "any.pass=p-any",
		"api_key=p-key", "Plain=p-plain",
	}, got)
	assert.Equal(t, []string{"p-1", "p-tok", "p-acc0", "p-acc2", "p-amy", "p-zed", "p-opt", "p-any", "p-key", "p-plain"}, Values(f))
	assert.Empty(t, Find(nil))
	assert.Empty(t, Find(struct{ N int }{1}))
	assert.Equal(t, []string{"p-x"}, Values([]any{New("p-x"), New("p-x"), "p-y"}), "each value once; plain strings are not secrets")
}
