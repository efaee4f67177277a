package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
)

// Get reads a value from the key-value table; ok is false when the key is absent.
func (s *Store) Get(ctx context.Context, key string) (value string, ok bool, err error) {
	err = s.queryRow(ctx, "SELECT value FROM kv WHERE key = ?", key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	return value, true, nil
}

// Counter reads an integer kept in the key-value table (0 when absent).
func (s *Store) Counter(ctx context.Context, key string) (int64, error) {
	v, ok, err := s.Get(ctx, key)
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("counter %s: %w", key, err)
	}
	return n, nil
}

// Set writes a value to the key-value table.
func (t *Tx) Set(key, value string) error {
	if _, err := t.exec("INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// Get reads a value inside the transaction.
func (t *Tx) Get(key string) (value string, ok bool, err error) {
	err = t.queryRow("SELECT value FROM kv WHERE key = ?", key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	return value, true, nil
}

// Add adds delta to an integer counter and returns the new value.
func (t *Tx) Add(key string, delta int64) (int64, error) {
	var n int64
	err := t.queryRow(`INSERT INTO kv(key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT)
		RETURNING CAST(value AS INTEGER)`, key, strconv.FormatInt(delta, 10), delta).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", key, err)
	}
	return n, nil
}

// BoxID is this installation's random id, made once and kept (MQTT client ids use it).
func (s *Store) BoxID(ctx context.Context) (string, error) {
	if v, ok, err := s.Get(ctx, "box_id"); err != nil || ok {
		return v, err
	}
	var id string
	err := s.Write(ctx, func(t *Tx) error {
		v, ok, err := t.Get("box_id")
		if err != nil {
			return err
		}
		if ok {
			id = v
			return nil
		}
		b := make([]byte, 6)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("box id: %w", err)
		}
		id = hex.EncodeToString(b)
		return t.Set("box_id", id)
	})
	return id, err
}
