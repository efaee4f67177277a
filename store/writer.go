package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// The store's writes run on one goroutine of its own, which commits what is queued together
// (group commit). SQLite takes one writer at a time anyway; what a cold start measured was the
// hand-over between writers: with every caller beginning its own transaction on the one
// connection, each commit woke the next caller's goroutine, which then waited for a core
// behind the busy ones (about 1 ms a transaction on two busy cores, a third of the time the
// writer was free while writers waited). The writer goroutine runs the queued writes back to
// back instead, each in a savepoint of one transaction, and commits when the queue is empty
// or the batch is full. A caller's Write still returns only after its work has committed, and
// a write that fails (or panics) is rolled back alone: the others of its batch are kept.
const (
	writeQueue     = 64                    // writes waiting before callers block
	maxBatchWrites = 32                    // writes in one transaction at most
	maxBatchTime   = 25 * time.Millisecond // and no more added after this long
)

var errClosed = errors.New("store is closed")

// A writeReq is one Write waiting for, or run by, the writer goroutine.
type writeReq struct {
	ctx   context.Context
	fn    func(*Tx) error
	state atomic.Int32 // reqQueued until the writer takes it or its caller gives up
	err   error
	panic any // fn panicked: its caller panics with this
	done  chan struct{}
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

func (r *writeReq) finish(err error) {
	r.err = err
	close(r.done)
}

// writer is the writer goroutine's state. The batch fields belong to that goroutine; they
// live here so that a write function ending its goroutine (runtime.Goexit: a test's FailNow)
// can be cleaned up by the goroutine's deferred recovery.
type writer struct {
	queue  chan *writeReq
	mu     sync.RWMutex // held (read) while sending to queue; Close takes it to stop new sends
	closed bool
	stop   chan struct{} // closed by Close
	exited chan struct{} // closed when the writer goroutine has ended for good

	tx         *sql.Tx
	current    *writeReq   // the write being run
	batch      []*writeReq // run and kept, waiting for the commit
	pending    outboxDelta // their outbox changes
	changed    map[string]map[string]bool
	unprepared map[string]bool // statements run unprepared, prepared after the commit

	commits atomic.Int64 // transactions committed (for tests)
}

func (s *Store) startWriter() {
	s.wr = &writer{queue: make(chan *writeReq, writeQueue), stop: make(chan struct{}), exited: make(chan struct{})}
	go s.runWriter()
}

// stopWriter rejects new writes, lets the batch in progress commit, fails what is still
// queued and waits for the writer goroutine to end.
func (s *Store) stopWriter() {
	w := s.wr
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.exited
}

// Write runs fn in an IMMEDIATE transaction on the writer connection, and returns once it has
// committed (nil) or been rolled back (fn's error, or why it could not commit). fn runs on the
// store's writer goroutine, possibly in the same transaction as other callers' functions
// (each in a savepoint), so it must not wait for another Write. A panic in fn is rolled back
// and raised again in the caller. A ctx that ends while the write waits for its turn
// abandons it; once fn has started it runs to its end (a write is short; an interrupted
// statement would roll back the others' work in the transaction too).
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) error {
	return s.Submit(ctx, fn)()
}

// Submit queues fn as Write does and returns without waiting; wait returns what Write would
// have. Writes run in the order they were submitted: a caller that submits from one goroutine
// (a source's store worker) keeps its writes in order without waiting for each to commit.
func (s *Store) Submit(ctx context.Context, fn func(*Tx) error) (wait func() error) {
	if s.w == nil {
		return failed(errors.New("store is open read-only"))
	}
	if err := ctx.Err(); err != nil {
		return failed(fmt.Errorf("begin write: %w", err))
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	w := s.wr
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return failed(fmt.Errorf("begin write: %w", errClosed))
	}
	select {
	case w.queue <- req:
	case <-ctx.Done():
		w.mu.RUnlock()
		return failed(fmt.Errorf("begin write: %w", ctx.Err()))
	}
	w.mu.RUnlock()
	return req.wait
}

func failed(err error) func() error { return func() error { return err } }

// wait is the answer to a submitted write.
func (r *writeReq) wait() error {
	select {
	case <-r.done:
	case <-r.ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return fmt.Errorf("begin write: %w", r.ctx.Err())
		}
		<-r.done // already running: its outcome is the answer
	}
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

func (s *Store) runWriter() {
	// A label, so that a CPU profile can be narrowed to the writer (-tagfocus=otj=writer).
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("otj", "writer")))
	w := s.wr
	ended := false
	defer func() {
		if ended {
			return
		}
		// A write function ended this goroutine (runtime.Goexit; panics are recovered in
		// run). Nothing of the batch commits; a new writer goroutine takes over.
		s.abortBatch(errors.New("the write function ended its goroutine (runtime.Goexit)"))
		go s.runWriter()
	}()
	for {
		select {
		case req := <-w.queue:
			s.writeBatch(req)
		case <-w.stop:
			for {
				select {
				case req := <-w.queue:
					if req.state.CompareAndSwap(reqQueued, reqTaken) {
						req.finish(fmt.Errorf("begin write: %w", errClosed))
					}
				default:
					ended = true
					close(w.exited)
					return
				}
			}
		}
	}
}

// writeBatch runs first and whatever is queued behind it, up to the batch's bounds, in one
// transaction, and commits it.
func (s *Store) writeBatch(first *writeReq) {
	w := s.wr
	start := s.now()
	n := 0
	for req := first; req != nil; req = w.next(n, s.now().Sub(start)) {
		if !req.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // its caller gave up waiting
		}
		if err := req.ctx.Err(); err != nil {
			req.finish(fmt.Errorf("begin write: %w", err))
			continue
		}
		if w.tx == nil {
			tx, err := s.w.BeginTx(context.Background(), nil)
			if err != nil {
				req.finish(fmt.Errorf("begin write: %w", err))
				continue
			}
			w.tx = tx
		}
		s.runOne(req)
		n++
	}
	s.commitBatch()
}

// next is the next queued write if the batch may take one more.
func (w *writer) next(n int, held time.Duration) *writeReq {
	if n >= maxBatchWrites || held >= maxBatchTime {
		return nil
	}
	select {
	case req := <-w.queue:
		return req
	default:
		return nil
	}
}

// runOne runs req's function. The batch's first write runs bare (its rollback is the
// transaction's); the others run in a savepoint, so a failure undoes theirs alone.
func (s *Store) runOne(req *writeReq) {
	w := s.wr
	bare := len(w.batch) == 0
	if !bare {
		if _, err := w.tx.Exec("SAVEPOINT w"); err != nil {
			w.current = req
			s.abortBatch(fmt.Errorf("begin write: %w", err))
			return
		}
	}
	t := &Tx{tx: w.tx, s: s, now: s.now(), ctx: context.WithoutCancel(req.ctx), pending: w.pending}
	w.current = req
	err, p := call(t, req.fn)
	w.current = nil
	for q := range t.unprepared {
		if w.unprepared == nil {
			w.unprepared = map[string]bool{}
		}
		w.unprepared[q] = true
	}
	if err != nil || p != nil {
		req.err, req.panic = err, p
		if bare {
			_ = w.tx.Rollback()
			w.tx = nil
			close(req.done)
			return
		}
		_, rerr := w.tx.Exec("ROLLBACK TO w")
		if rerr == nil {
			_, rerr = w.tx.Exec("RELEASE w")
		}
		if rerr != nil {
			// SQLite rolled the whole transaction back (a full disk, an I/O error): the
			// batch's other writes are gone too, and must not be reported as committed.
			close(req.done)
			s.abortBatch(fmt.Errorf("rolled back with another write of the batch: %w", rerr))
			return
		}
		close(req.done)
		return
	}
	if !bare {
		if _, err := w.tx.Exec("RELEASE w"); err != nil {
			w.current = req
			s.abortBatch(fmt.Errorf("commit: %w", err))
			return
		}
	}
	w.pending.add(t.outbox)
	for topic, keys := range t.changed {
		if w.changed == nil {
			w.changed = map[string]map[string]bool{}
		}
		m := w.changed[topic]
		if m == nil {
			m = map[string]bool{}
			w.changed[topic] = m
		}
		for k := range keys {
			m[k] = true
		}
	}
	w.batch = append(w.batch, req)
}

// call runs fn, turning a panic into a value that carries the writer goroutine's stack.
func call(t *Tx, fn func(*Tx) error) (err error, p any) {
	defer func() {
		if r := recover(); r != nil {
			p = fmt.Sprintf("%v\n\n[in store.Write's function, on the store's writer goroutine:]\n%s", r, debug.Stack())
		}
	}()
	return fn(t), nil
}

// commitBatch commits the batch's transaction and answers its writes.
func (s *Store) commitBatch() {
	w := s.wr
	if w.tx == nil {
		s.resetBatch()
		return
	}
	s.outboxMu.Lock()
	err := w.tx.Commit()
	if err == nil {
		s.outbox.apply(w.pending)
	}
	s.outboxMu.Unlock()
	w.tx = nil
	if err != nil {
		err = fmt.Errorf("commit: %w", err)
	} else {
		w.commits.Add(1)
		s.changes.publish(w.changed)
	}
	for _, req := range w.batch {
		req.finish(err)
	}
	s.resetBatch()
}

// abortBatch rolls the transaction back and fails the batch's writes (and the one running).
func (s *Store) abortBatch(err error) {
	w := s.wr
	if w.tx != nil {
		_ = w.tx.Rollback()
		w.tx = nil
	}
	if req := w.current; req != nil {
		w.current = nil
		req.finish(err)
	}
	for _, req := range w.batch {
		req.finish(err)
	}
	s.resetBatch()
}

// resetBatch forgets the batch and prepares the statements it ran unprepared (the writer's
// one connection is free now).
func (s *Store) resetBatch() {
	w := s.wr
	clear(w.batch) // a write's function may hold much (a page of events)
	w.batch, w.pending, w.changed = w.batch[:0], outboxDelta{}, nil
	for q := range w.unprepared {
		s.prepare(context.Background(), s.w, q)
	}
	w.unprepared = nil
}
