package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/otj-edge/otj-edge/store"
)

// publishOutbox is the one publisher of the outbox: while connected it sends the oldest
// messages in order, QoS 1, and deletes each only after its PUBACK. After a round that was not
// fully acknowledged it waits (for the link to come back, or a growing delay) and sends the
// rest again from the outbox.
func (t *Telemetry) publishOutbox(ctx context.Context) {
	notices := t.store.Subscribe(store.TopicOutbox)
	defer notices.Close()
	const minBackoff, maxBackoff = 500 * time.Millisecond, 30 * time.Second
	backoff := minBackoff
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		idle := true
		if l := t.link.Load(); l != nil && l.up() {
			notices.Take() // the table is read below; notices after this read start another round
			sent, err := t.sendRound(ctx, l)
			switch {
			case err != nil && ctx.Err() == nil:
				t.stats.retries.Add(1)
				t.log.Debug("outbox round not fully acknowledged; sending the rest again", "acknowledged", sent, "err", err)
				retry.Reset(backoff)
				backoff = min(2*backoff, maxBackoff)
			case err == nil && sent > 0:
				backoff = minBackoff
				idle = false
			}
		}
		if !idle {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-notices.C:
		case <-t.pubWake:
			backoff = minBackoff
		case <-retry.C:
		}
	}
}

// sendRound publishes up to outboxBatch messages and acknowledges, in the store, the prefix the
// broker acknowledged. It returns how many were delivered.
func (t *Telemetry) sendRound(ctx context.Context, l *link) (int, error) {
	msgs, err := t.store.PeekOutbox(ctx, outboxBatch)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	if head := msgs[0]; head.Attempts >= maxAttempts {
		// The broker keeps refusing this message (too large for its limits, say): give it up so
		// everything behind it can flow, and say so.
		found, err := t.store.DiscardOutbox(ctx, head.Seq)
		if err != nil {
			return 0, err
		}
		if found {
			t.log.Error("discarded an outbox message the broker never acknowledged", "id", head.ID, "topic", head.Topic,
				"bytes", len(head.Payload), "attempts", head.Attempts)
		}
		return 1, nil
	}
	tokens := make([]paho.Token, 0, len(msgs))
	for _, m := range msgs {
		tok := l.cli.Publish(t.prefix+m.Topic, 1, m.Retained, m.Payload)
		tokens = append(tokens, tok)
		if isDone(tok) && tok.Error() != nil {
			break // not connected any more: the rest would fail too
		}
	}
	acked := 0
	deadline := time.NewTimer(t.opts.Timing.PublishTimeout)
	defer deadline.Stop()
	var why error
wait:
	for _, tok := range tokens {
		select {
		case <-tok.Done():
		case <-l.lost:
			if !isDone(tok) {
				why = errLinkDropped
				break wait
			}
		case <-deadline.C:
			why = errNoAck
			break wait
		case <-ctx.Done():
			why = ctx.Err()
			break wait
		}
		if err := tok.Error(); err != nil {
			why = err
			break
		}
		acked++ // a token of this link's client completes without error only on a PUBACK
	}
	if acked > 0 {
		t.stats.published.Add(int64(acked))
		seqs := make([]int64, acked)
		for i := range acked {
			seqs[i] = msgs[i].Seq
		}
		// Deleting must not be cut short by shutdown: a delivered row left behind is only sent
		// twice, but let it finish.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := t.store.AckOutbox(actx, seqs...)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("delete delivered messages: %w", err)
		}
	}
	if acked < len(msgs) && why == nil {
		why = errNotConnected
	}
	if why != nil {
		if ctx.Err() == nil && !errors.Is(why, errNotConnected) && !errors.Is(why, paho.ErrNotConnected) {
			// Only the first unacknowledged message counts an attempt: a message that keeps
			// failing stays at the head, while a flapping link spreads over many.
			if err := t.store.MarkAttempt(ctx, msgs[acked].Seq); err != nil {
				t.log.Warn("count outbox attempt", "err", err)
			}
		}
		return acked, why
	}
	return acked, nil
}

func isDone(tok paho.Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}
