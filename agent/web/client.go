package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// Client talks to a running agent's API from the same machine (the operator CLI).
type Client struct {
	// BaseURL is the agent's status address, e.g. http://127.0.0.1:8787.
	BaseURL string
	// Token is the action token from the state directory; it also stands in for the status
	// page's username and password.
	Token string
	HTTP  *http.Client // default: a client with a 30 s timeout
}

// ClientURL is the URL a client on this machine uses for a status.listen address: a wildcard
// host (":8787", "0.0.0.0:8787", "[::]:8787") is reached on loopback.
func ClientURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("status.listen %q is not host:port", listen)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// APIError is an error answer from the agent.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// UnreachableError means nothing answered at the agent's address: the agent is not running
// (or its status page is off).
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string { return "no answer at " + e.URL + ": " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := strings.TrimSuffix(c.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set(TokenHeader, c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ctx.Err() == nil {
			var oe *net.OpError
			if errors.As(err, &oe) && oe.Op == "dial" {
				return &UnreachableError{URL: c.BaseURL, Err: oe.Err}
			}
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var ae apiError
		if json.Unmarshal(data, &ae) == nil && ae.Error != "" {
			return &APIError{Code: resp.StatusCode, Message: ae.Error}
		}
		return &APIError{Code: resp.StatusCode, Message: fmt.Sprintf("%s %s: %s", method, path, resp.Status)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the expected JSON: %w", method, path, err)
	}
	return nil
}

// Status is GET /api/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var v Status
	return v, c.do(ctx, http.MethodGet, "/api/status", nil, nil, &v)
}

// Health is GET /api/health.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var v Health
	return v, c.do(ctx, http.MethodGet, "/api/health", nil, nil, &v)
}

// Rooms is GET /api/rooms.
func (c *Client) Rooms(ctx context.Context) ([]Room, error) {
	var v []Room
	return v, c.do(ctx, http.MethodGet, "/api/rooms", nil, nil, &v)
}

// Room is GET /api/rooms/{room}.
func (c *Client) Room(ctx context.Context, mailbox string) (RoomDetail, error) {
	var v RoomDetail
	return v, c.do(ctx, http.MethodGet, "/api/rooms/"+url.PathEscape(mailbox), nil, nil, &v)
}

// Meetings is GET /api/meetings for one room ("" = all) over [from, to).
func (c *Client) Meetings(ctx context.Context, room string, from, to time.Time) ([]Meeting, error) {
	q := url.Values{}
	if room != "" {
		q.Set("room", room)
	}
	if !from.IsZero() {
		q.Set("from", from.Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("to", to.Format(time.RFC3339))
	}
	var v []Meeting
	return v, c.do(ctx, http.MethodGet, "/api/meetings", q, nil, &v)
}

// Endpoints is GET /api/endpoints.
func (c *Client) Endpoints(ctx context.Context) ([]Endpoint, error) {
	var v []Endpoint
	return v, c.do(ctx, http.MethodGet, "/api/endpoints", nil, nil, &v)
}

// Events is GET /api/events.
func (c *Client) Events(ctx context.Context, f store.EventFilter) ([]Event, error) {
	q := url.Values{}
	if f.Room != "" {
		q.Set("room", f.Room)
	}
	if f.Endpoint != "" {
		q.Set("endpoint", f.Endpoint)
	}
	if len(f.Levels) > 0 {
		q.Set("level", strings.Join(f.Levels, ","))
	}
	if f.Limit > 0 {
		q.Set("n", strconv.Itoa(f.Limit))
	}
	var v []Event
	return v, c.do(ctx, http.MethodGet, "/api/events", q, nil, &v)
}

// Action is POST /api/actions/{name}.
func (c *Client) Action(ctx context.Context, name string, req ActionRequest) (ActionResult, error) {
	var v ActionResult
	return v, c.do(ctx, http.MethodPost, "/api/actions/"+url.PathEscape(name), nil, req, &v)
}
