package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/source"
)

// Room discovery for `otj-edge rooms discover`: the source row's discover function lists the
// rooms the integration can see; the command line turns them into endpoint stubs.

// Discovery is what an integration can see of the directory's rooms (sync/source).
type (
	Discovery      = source.Discovery
	DiscoveredRoom = source.DiscoveredRoom
	RoomList       = source.RoomList
)

// DiscoverRooms lists the rooms and room lists integration (an integrations[].name of cfg)
// can see. It reaches the service; an error says what is wrong and what to do.
func DiscoverRooms(ctx context.Context, cfg *config.Config, integration string) (Discovery, error) {
	in := cfg.Integration(integration)
	if in == nil {
		names := make([]string, len(cfg.Integrations))
		for i, x := range cfg.Integrations {
			names[i] = x.Name
		}
		return Discovery{}, fmt.Errorf("no integration %q in %s (integrations: %s)", integration, cfg.File, strings.Join(names, ", "))
	}
	t, ok := sourceTypeOf(in)
	if !ok || t.discover == nil {
		return Discovery{}, fmt.Errorf("integration %q is of type %s, which cannot list rooms: add its rooms to endpoints: by hand (room: the room mailbox's address)", in.Name, in.Type)
	}
	d, err := t.discover(ctx, in)
	if err != nil {
		return Discovery{}, fmt.Errorf("integration %q: %w", in.Name, err)
	}
	return d, nil
}
