package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Endpoint states every driver reports.
const (
	EndpointUnknown     = "unknown"      // not contacted yet
	EndpointUp          = "up"           // connected / polling, last push or poll fine
	EndpointDown        = "down"         // unreachable
	EndpointAuthFailed  = "auth_failed"  // wrong username or password
	EndpointCertChanged = "cert_changed" // certificate differs from the pinned one
	EndpointUnsupported = "unsupported"  // firmware or mode cannot take bookings
	EndpointNotPolling  = "not_polling"  // a Poly endpoint stopped polling
	EndpointDegraded    = "degraded"     // reachable, but something needs attention
	// EndpointWaiting: reachable, but nothing is sent to it before its room's calendar has
	// synced once from this store (an empty store would otherwise wipe its bookings).
	EndpointWaiting = "waiting"
)

// EndpointState is what the store knows about one endpoint.
type EndpointState struct {
	Name        string
	Type        string
	Room        string
	State       string
	Detail      string
	Product     string
	Software    string
	CertSHA256  string // pinned certificate fingerprint
	SeenSHA256  string // presented but not trusted
	LastContact time.Time
	LastPush    time.Time
	PushHash    string
	LastPoll    time.Time
	PollEvery   time.Duration
	Data        json.RawMessage // driver-specific
}

// EndpointRef names a configured endpoint.
type EndpointRef struct {
	Name string
	Type string
	Room string
}

const endpointCols = `name, type, room, state, detail, product, software, cert_sha256, seen_sha256,
	last_contact, last_push, push_hash, last_poll, poll_every, data`

func scanEndpoint(sc rowScanner) (EndpointState, error) {
	var e EndpointState
	var lc, lp, lpoll, every int64
	var data string
	err := sc.Scan(&e.Name, &e.Type, &e.Room, &e.State, &e.Detail, &e.Product, &e.Software, &e.CertSHA256,
		&e.SeenSHA256, &lc, &lp, &e.PushHash, &lpoll, &every, &data)
	e.LastContact, e.LastPush, e.LastPoll = fromMS(lc), fromMS(lp), fromMS(lpoll)
	e.PollEvery = time.Duration(every) * time.Millisecond
	e.Data = json.RawMessage(data)
	return e, err
}

// SyncEndpoints makes the endpoints table match the configuration. An endpoint that changed
// type or room keeps only its certificate pin (the device is the same box).
func (t *Tx) SyncEndpoints(refs []EndpointRef) error {
	want := map[string]EndpointRef{}
	for _, r := range refs {
		want[r.Name] = r
	}
	rows, err := t.query("SELECT name, type, room FROM endpoints")
	if err != nil {
		return fmt.Errorf("sync endpoints: %w", err)
	}
	have := map[string]EndpointRef{}
	for rows.Next() {
		var r EndpointRef
		if err := rows.Scan(&r.Name, &r.Type, &r.Room); err != nil {
			rows.Close()
			return fmt.Errorf("sync endpoints: %w", err)
		}
		have[r.Name] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sync endpoints: %w", err)
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			if _, err := t.exec("DELETE FROM endpoints WHERE name = ?", name); err != nil {
				return fmt.Errorf("remove endpoint %s: %w", name, err)
			}
			t.Changed(TopicEndpoints, name)
		}
	}
	for name, r := range want {
		old, ok := have[name]
		switch {
		case !ok:
			if _, err := t.exec("INSERT INTO endpoints(name, type, room) VALUES (?,?,?)", r.Name, r.Type, r.Room); err != nil {
				return fmt.Errorf("add endpoint %s: %w", name, err)
			}
			t.Changed(TopicEndpoints, name)
		case old != r:
			if _, err := t.exec(`UPDATE endpoints SET type=?, room=?, state='unknown', detail='', push_hash='', last_push=0
				WHERE name=?`, r.Type, r.Room, name); err != nil {
				return fmt.Errorf("update endpoint %s: %w", name, err)
			}
			t.Changed(TopicEndpoints, name)
		}
	}
	return nil
}

// PutEndpoint writes an endpoint's whole state.
func (t *Tx) PutEndpoint(e EndpointState) error {
	if e.State == "" {
		e.State = EndpointUnknown
	}
	data := string(e.Data)
	if data == "" {
		data = "{}"
	}
	_, err := t.exec(`INSERT INTO endpoints(`+endpointCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(name) DO UPDATE SET type=excluded.type, room=excluded.room, state=excluded.state,
		detail=excluded.detail, product=excluded.product, software=excluded.software, cert_sha256=excluded.cert_sha256,
		seen_sha256=excluded.seen_sha256, last_contact=excluded.last_contact, last_push=excluded.last_push,
		push_hash=excluded.push_hash, last_poll=excluded.last_poll, poll_every=excluded.poll_every, data=excluded.data`,
		e.Name, e.Type, e.Room, e.State, e.Detail, e.Product, e.Software, e.CertSHA256, e.SeenSHA256,
		ms(e.LastContact), ms(e.LastPush), e.PushHash, ms(e.LastPoll), e.PollEvery.Milliseconds(), data)
	if err != nil {
		return fmt.Errorf("write endpoint %s: %w", e.Name, err)
	}
	t.Changed(TopicEndpoints, e.Name)
	return nil
}

// Endpoint reads one endpoint inside the transaction.
func (t *Tx) Endpoint(name string) (EndpointState, bool, error) {
	return scanOne(t.queryRow("SELECT "+endpointCols+" FROM endpoints WHERE name = ?", name), scanEndpoint, "endpoint "+name)
}

// EndpointOr reads the endpoint named blank.Name inside the transaction, or gives blank when
// the store has no row for it yet (a driver's first write about a new endpoint).
func (t *Tx) EndpointOr(blank EndpointState) (EndpointState, error) {
	e, ok, err := t.Endpoint(blank.Name)
	if err != nil || !ok {
		return blank, err
	}
	return e, nil
}

// UpdateEndpoint reads an endpoint, lets fn change it and writes it back, in one transaction.
func (s *Store) UpdateEndpoint(ctx context.Context, name string, fn func(*EndpointState) error) error {
	return s.Write(ctx, func(t *Tx) error {
		e, ok, err := t.Endpoint(name)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("endpoint %s is not configured", name)
		}
		if err := fn(&e); err != nil {
			return err
		}
		return t.PutEndpoint(e)
	})
}

// Endpoint reads one endpoint.
func (s *Store) Endpoint(ctx context.Context, name string) (EndpointState, bool, error) {
	return scanOne(s.queryRow(ctx, "SELECT "+endpointCols+" FROM endpoints WHERE name = ?", name), scanEndpoint, "endpoint "+name)
}

// Endpoints lists every endpoint by name.
func (s *Store) Endpoints(ctx context.Context) ([]EndpointState, error) {
	rows, err := s.query(ctx, "SELECT "+endpointCols+" FROM endpoints ORDER BY name")
	return scanAll(rows, err, scanEndpoint, "list endpoints")
}
