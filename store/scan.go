package store

import (
	"database/sql"
	"errors"
	"fmt"
)

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// scanOne reads the row of a single-row query with scan; ok is false when there is none. what
// names the row in the error ("room r1@…").
func scanOne[T any](row *sql.Row, scan func(rowScanner) (T, error), what string) (T, bool, error) {
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("read %s: %w", what, err)
	}
	return v, true, nil
}

// scanAll reads every row of a query (rows and err as QueryContext returned them) with scan.
// op names the operation in the error ("list rooms").
func scanAll[T any](rows *sql.Rows, err error, scan func(rowScanner) (T, error), op string) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}
