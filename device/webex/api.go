package webex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// One connection is one token, and Webex rate-limits per token: its requests go one at a time
// (so none is in flight when a 429 arrives), by priority (turns.go), and after a 429 none is
// sent before Retry-After has passed, whichever device it is for (one bucket per connection).

// conn is one Webex connection with its token and its bucket.
type conn struct {
	m   *Manager
	cfg Connection
	log *slog.Logger

	tmu      sync.Mutex // token state
	tok      tokens
	vaultErr string

	slot      turns // one request at a time, by priority
	bmu       sync.Mutex
	notBefore time.Time // no request before this (Retry-After)
}

// APIError is an answer of the Webex API other than success.
type APIError struct {
	Op         string
	Status     int
	Message    string
	TrackingID string
	RetryAfter time.Time // 429: no request before this
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: Webex answered HTTP %d", e.Op, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.TrackingID != "" {
		s += " (trackingId " + e.TrackingID + ")"
	}
	return s
}

// RateLimitedError: the connection waits out a Retry-After; nothing was sent.
type RateLimitedError struct{ Until time.Time }

func (e *RateLimitedError) Error() string {
	return "Webex asked this connection to wait (HTTP 429 Retry-After) until " + e.Until.Format("15:04:05")
}

// waitUntil is when the bucket opens (zero: open).
func (c *conn) waitUntil() time.Time {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	if c.m.opts.Clock.Now().Before(c.notBefore) {
		return c.notBefore
	}
	return time.Time{}
}

func (c *conn) closeBucket(until time.Time) {
	c.bmu.Lock()
	if until.After(c.notBefore) {
		c.notBefore = until
	}
	c.bmu.Unlock()
	c.m.stats.limited()
}

// call sends one API request when its turn (prio) comes: method, path under api_url, query,
// JSON body; out receives the JSON answer.
func (c *conn) call(ctx context.Context, prio priority, op, method, path string, q url.Values, body, out any) error {
	_, err := c.do(ctx, prio, op, method, path, q, body, out)
	return err
}

// do is call that also returns the answer's headers.
func (c *conn) do(ctx context.Context, prio priority, op, method, path string, q url.Values, body, out any) (http.Header, error) {
	t, err := c.take(ctx, prio)
	if err != nil {
		return nil, err
	}
	defer t.done()
	return t.do(ctx, op, method, path, q, body, out)
}

// A turn is the connection's slot held for requests that belong together: a full push's
// look for foreign bookings and its Put go in one turn, so no other request comes between.
type turn struct{ c *conn }

// take waits for the connection's slot at prio.
func (c *conn) take(ctx context.Context, prio priority) (*turn, error) {
	if err := c.slot.acquire(ctx, prio); err != nil {
		return nil, err
	}
	return &turn{c: c}, nil
}

// done gives the slot back.
func (t *turn) done() { t.c.slot.release() }

// call sends one request in the turn.
func (t *turn) call(ctx context.Context, op, method, path string, q url.Values, body, out any) error {
	_, err := t.do(ctx, op, method, path, q, body, out)
	return err
}

// do sends one request in the turn and returns the answer's headers. A 401 refreshes the
// token once and tries again.
func (t *turn) do(ctx context.Context, op, method, path string, q url.Values, body, out any) (http.Header, error) {
	c := t.c
	for attempt := 0; ; attempt++ {
		if until := c.waitUntil(); !until.IsZero() {
			return nil, &RateLimitedError{Until: until}
		}
		tok, err := c.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		h, err := c.send(ctx, op, method, path, q, body, out, tok)
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && attempt == 0 {
			c.dropAccess(tok) // expired or revoked early: one refresh, one more try
			continue
		}
		return h, err
	}
}

func (c *conn) send(ctx context.Context, op, method, path string, q url.Values, body, out any, tok string) (http.Header, error) {
	u := c.cfg.APIURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		// Unescaped, so a bookings body carries exactly the bytes device/bookings built.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		rd = &buf
	}
	cctx, cancel := context.WithTimeout(ctx, c.m.opts.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.m.stats.request()
	resp, err := c.m.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, scrubErr(err, c.cfg))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: read the answer: %w", op, err)
	}
	if resp.StatusCode/100 == 2 {
		if out != nil && len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return nil, fmt.Errorf("%s: Webex's answer is not the JSON expected: %w", op, err)
			}
		}
		return resp.Header, nil
	}
	var eb struct {
		Message string `json:"message"`
		Errors  []struct {
			Description string `json:"description"`
		} `json:"errors"`
		TrackingID string `json:"trackingId"`
	}
	_ = json.Unmarshal(data, &eb)
	ae := &APIError{Op: op, Status: resp.StatusCode, Message: eb.Message, TrackingID: firstOf(eb.TrackingID, resp.Header.Get("TrackingID"))}
	if ae.Message == "" && len(eb.Errors) > 0 {
		ae.Message = eb.Errors[0].Description
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		ae.RetryAfter = c.m.opts.Clock.Now().Add(retryAfter(resp.Header.Get("Retry-After"), c.m.opts.Clock.Now()))
		c.closeBucket(ae.RetryAfter)
		c.log.Warn("Webex rate limit: no request on this connection before Retry-After", "until", ae.RetryAfter, "tracking_id", ae.TrackingID)
		return nil, &RateLimitedError{Until: ae.RetryAfter}
	}
	return nil, ae
}

// retryAfter reads Retry-After (seconds or an HTTP date); Webex says it "should be present",
// so a missing one waits a minute, the width of its documented windows.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return max(time.Duration(n)*time.Second, time.Second)
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), time.Second)
	}
	return time.Minute
}
