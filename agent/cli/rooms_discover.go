package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/otj-edge/otj-edge/agent"
	"github.com/otj-edge/otj-edge/agent/config"
)

// `otj-edge rooms discover INTEGRATION`: the rooms the integration can see, as endpoint stubs
// to paste into the config (or JSON). The source row lists the rooms (agent.DiscoverRooms);
// this file only names and prints them.

// discoverHelp is the part of `otj-edge rooms --help` about discover.
const discoverHelp = `

'otj-edge rooms discover INTEGRATION' lists the room mailboxes the integration can see
(Microsoft Graph: the Places API, which needs the application permission Place.Read.All with
admin consent) and prints an endpoint entry for each, ready to paste under endpoints:, grouped by
room list, with each room's capacity, building and floor as comments. Rooms the config already
has are printed commented out, marked "already configured". Set each entry's type (and what that
type needs), and delete the rooms that have no device. --json prints the same for scripts.`

// discoveredRoom is one room as discover prints it: the directory's facts and its stub.
type discoveredRoom struct {
	Name        string   `json:"name"` // the endpoint name of the stub
	Room        string   `json:"room"`
	Profile     string   `json:"profile"`
	DisplayName string   `json:"displayName"`
	Capacity    *int     `json:"capacity,omitempty"`
	Building    string   `json:"building,omitempty"`
	Floor       *int     `json:"floorNumber,omitempty"`
	FloorLabel  string   `json:"floorLabel,omitempty"`
	Wheelchair  *bool    `json:"isWheelChairAccessible,omitempty"`
	RoomLists   []string `json:"roomLists,omitempty"`
	Configured  bool     `json:"configured"`
	Endpoints   []string `json:"endpoints,omitempty"` // the config's endpoints in this room
}

type discoverOutput struct {
	Integration string           `json:"integration"`
	Profile     string           `json:"profile"`
	Rooms       []discoveredRoom `json:"rooms"`
	RoomLists   []agent.RoomList `json:"roomLists"`
}

func runRoomsDiscover(ctx context.Context, stdio IO, f *opFlags, args []string) error {
	if len(args) != 1 {
		return usagef("rooms discover takes the name of one integration: otj-edge rooms discover INTEGRATION")
	}
	cfg, err := loadConfig(*f.config, stdio)
	if err != nil {
		return err
	}
	d, err := agent.DiscoverRooms(ctx, cfg, args[0])
	if err != nil {
		return err
	}
	out := discoverStubs(cfg, args[0], d)
	configured := 0
	for _, r := range out.Rooms {
		if r.Configured {
			configured++
		}
	}
	fmt.Fprintf(stdio.Stderr, "otj-edge rooms discover: integration %s sees %s in %s; %d already configured\n",
		args[0], plural(len(out.Rooms), "room"), plural(len(out.RoomLists), "room list"), configured)
	if *f.json {
		return writeJSON(stdio.Stdout, out)
	}
	return writeDiscoverYAML(stdio.Stdout, out, configured)
}

// discoverStubs names each room's stub: a name from its display name, unique among the
// config's endpoints and the other stubs; profile the config's first profile of the
// integration (the first profile when none names it).
func discoverStubs(cfg *config.Config, integration string, d agent.Discovery) discoverOutput {
	out := discoverOutput{Integration: integration, RoomLists: d.Lists, Rooms: []discoveredRoom{}}
	if out.RoomLists == nil {
		out.RoomLists = []agent.RoomList{}
	}
	for _, p := range cfg.Profiles {
		if p.Integration == integration {
			out.Profile = p.Name
			break
		}
	}
	if out.Profile == "" && len(cfg.Profiles) > 0 {
		out.Profile = cfg.Profiles[0].Name
	}
	taken := map[string]bool{}
	inRoom := map[string][]string{}
	for _, e := range cfg.Endpoints {
		taken[strings.ToLower(e.Name)] = true
		inRoom[strings.ToLower(e.Room)] = append(inRoom[strings.ToLower(e.Room)], e.Name)
	}
	for _, r := range d.Rooms {
		eps := inRoom[r.Mailbox]
		base := endpointName(r.DisplayName)
		if base == "" {
			local, _, _ := strings.Cut(r.Mailbox, "@")
			base = endpointName(local)
		}
		if base == "" {
			base = "room"
		}
		name := base
		for i := 2; taken[name]; i++ {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		taken[name] = true
		out.Rooms = append(out.Rooms, discoveredRoom{Name: name, Room: r.Mailbox, Profile: out.Profile, DisplayName: r.DisplayName,
			Capacity: r.Capacity, Building: r.Building, Floor: r.Floor, FloorLabel: r.FloorLabel, Wheelchair: r.WheelchairAccessible,
			RoomLists: r.Lists, Configured: len(eps) > 0, Endpoints: eps})
	}
	return out
}

// fold spells the letters of room names in Latin scripts that are not ASCII the way their
// readers do when they must.
var fold = map[rune]string{'æ': "ae", 'ø': "o", 'å': "a", 'ä': "a", 'ö': "o", 'ü': "u", 'ß': "ss", 'é': "e", 'è': "e",
	'ê': "e", 'á': "a", 'à': "a", 'â': "a", 'í': "i", 'ó': "o", 'ô': "o", 'ú': "u", 'ñ': "n", 'ç': "c", 'ł': "l", 'š': "s",
	'ž': "z", 'č': "c", 'ð': "d", 'þ': "th"}

// endpointName is a config endpoint name made from a room's name: lower case ASCII letters and
// digits, words joined by '-', at most 60 characters; "" when nothing is left.
func endpointName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		case fold[r] != "":
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteString(fold[r])
			dash = false
		default:
			dash = true
		}
	}
	name := b.String()
	if len(name) > 60 {
		name = strings.TrimRight(name[:60], "-")
	}
	return name
}

// writeDiscoverYAML prints the stubs as an endpoints: list, grouped by room list; a room in
// several lists is printed under the first and named under the others.
func writeDiscoverYAML(w io.Writer, out discoverOutput, configured int) error {
	types := strings.Join(config.EndpointTypeNames(), " or ")
	fmt.Fprintf(w, "# Rooms integration %s can see: %s in %s; %d already configured (commented out).\n",
		out.Integration, plural(len(out.Rooms), "room"), plural(len(out.RoomLists), "room list"), configured)
	fmt.Fprintf(w, "# Paste the entries under endpoints: in the config, set each type (%s) and what that type\n", types)
	fmt.Fprintln(w, "# needs (see the README's endpoint sections), and delete the rooms that have no device.")
	if len(out.Rooms) == 0 {
		fmt.Fprintln(w, "# The integration sees no rooms. Rooms hidden from the address list are never listed, and a")
		fmt.Fprintln(w, "# room created recently can take a day to appear.")
		fmt.Fprintln(w, "endpoints: []")
		return nil
	}
	fmt.Fprintln(w, "endpoints:")
	byMailbox := map[string]*discoveredRoom{}
	for i := range out.Rooms {
		byMailbox[out.Rooms[i].Room] = &out.Rooms[i]
	}
	listName := map[string]string{}
	for _, l := range out.RoomLists {
		listName[l.Mailbox] = l.DisplayName
	}
	printed := map[string]string{} // room → the list it was printed under
	for _, l := range out.RoomLists {
		fmt.Fprintf(w, "\n  # Room list %s (%s): %s\n", oneLine(l.DisplayName), l.Mailbox, plural(len(l.Rooms), "room"))
		for _, m := range sortedByName(l.Rooms, byMailbox) {
			if under, done := printed[m]; done {
				fmt.Fprintf(w, "  # %s (%s): also in this list, printed under %s\n", oneLine(byMailbox[m].DisplayName), m, oneLine(listName[under]))
				continue
			}
			printed[m] = l.Mailbox
			writeStub(w, *byMailbox[m], types)
		}
	}
	first := true
	for _, r := range out.Rooms {
		if _, done := printed[r.Room]; done {
			continue
		}
		if first && len(out.RoomLists) > 0 {
			fmt.Fprintln(w, "\n  # In no room list")
		}
		first = false
		writeStub(w, r, types)
	}
	return nil
}

// sortedByName orders a list's rooms as the whole listing is ordered (by display name).
func sortedByName(mailboxes []string, byMailbox map[string]*discoveredRoom) []string {
	out := append([]string(nil), mailboxes...)
	pos := func(m string) string {
		if r := byMailbox[m]; r != nil {
			return strings.ToLower(r.DisplayName) + "\x00" + m
		}
		return "\xff" + m
	}
	for i := 1; i < len(out); i++ { // insertion sort: lists are short
		for j := i; j > 0 && pos(out[j]) < pos(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func writeStub(w io.Writer, r discoveredRoom, types string) {
	var facts []string
	if r.Capacity != nil {
		facts = append(facts, fmt.Sprintf("capacity %d", *r.Capacity))
	}
	if r.Building != "" {
		facts = append(facts, "building "+oneLine(r.Building))
	}
	switch {
	case strings.Contains(strings.ToLower(r.FloorLabel), "floor"): // "Ground floor"
		facts = append(facts, oneLine(r.FloorLabel))
	case r.FloorLabel != "":
		facts = append(facts, "floor "+oneLine(r.FloorLabel))
	case r.Floor != nil:
		facts = append(facts, fmt.Sprintf("floor %d", *r.Floor))
	}
	if r.Wheelchair != nil && *r.Wheelchair {
		facts = append(facts, "wheelchair accessible")
	}
	head := "  # " + oneLine(r.DisplayName)
	if len(facts) > 0 {
		head += ": " + strings.Join(facts, ", ")
	}
	prefix := "  "
	if r.Configured {
		head += " (already configured: endpoint " + strings.Join(r.Endpoints, ", ") + ")"
		prefix = "  # "
	}
	fmt.Fprintln(w, head)
	fmt.Fprintf(w, "%s- name: %s\n", prefix, yamlScalar(r.Name))
	fmt.Fprintf(w, "%s  type: TODO  # %s: the device in this room\n", prefix, types)
	fmt.Fprintf(w, "%s  room: %s\n", prefix, yamlScalar(r.Room))
	fmt.Fprintf(w, "%s  profile: %s\n", prefix, yamlScalar(r.Profile))
}

// yamlScalar is s as a YAML scalar, quoted when it must be.
func yamlScalar(s string) string {
	b, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// oneLine makes directory text safe in a comment: no line breaks or control characters.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }), " ")
}

// plural is "1 room", "2 rooms".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
