package clock

import (
	"hash/fnv"
	"time"
)

// SpreadOffset is key's own offset in [0, spread), in whole seconds, from an FNV-1a hash of
// key: the same for the same key on every run, so a site's rooms or endpoints that would all
// act at one instant (a day's roll, a midnight push) take turns over spread instead. 0 when
// spread is under a second.
func SpreadOffset(key string, spread time.Duration) time.Duration {
	if spread < time.Second {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return time.Duration(h.Sum32()%uint32(spread/time.Second)) * time.Second
}
