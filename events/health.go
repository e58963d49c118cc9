package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerHealth is how far one durable consumer is behind its stream:
// what a lagging engine or a stalled store writer looks like from the log.
type ConsumerHealth struct {
	Stream  string `json:"stream"`
	Durable string `json:"durable"`
	// Pending is the number of messages matching the consumer's filter
	// not yet delivered (JetStream's num_pending).
	Pending uint64 `json:"pending"`
	// AckPending is delivered but not yet acknowledged.
	AckPending uint64 `json:"ack_pending"`
	// Redelivered counts messages delivered more than once and still
	// unacknowledged (num_redelivered).
	Redelivered uint64 `json:"redelivered"`
	// AckFloor is the stream sequence up to which everything is
	// acknowledged.
	AckFloor uint64 `json:"ack_floor"`
	// OldestUnacked is how long ago JetStream stored the oldest message
	// the consumer has not acknowledged (0 when caught up). It is wall
	// clock on purpose: it measures the live system, not the events.
	OldestUnacked time.Duration `json:"oldest_unacked_ns"`
}

// ConsumersHealth returns the health of every durable consumer on the v1
// streams, sorted by stream and name. now is the reference for
// OldestUnacked (time.Now in production, a fixed time in tests).
func (b *Bus) ConsumersHealth(ctx context.Context, now time.Time) ([]ConsumerHealth, error) {
	var out []ConsumerHealth
	for _, spec := range Streams(b.cfg.Retention) {
		st, err := b.js.Stream(ctx, spec.Name)
		if err != nil {
			return nil, fmt.Errorf("consumer health of %s: %w", spec.Name, err)
		}
		lister := st.ListConsumers(ctx)
		for info := range lister.Info() {
			if info.Config.Durable == "" {
				continue // ordered readers (replay, reports) come and go
			}
			h := ConsumerHealth{
				Stream: spec.Name, Durable: info.Name,
				Pending: info.NumPending, AckPending: uint64(info.NumAckPending),
				Redelivered: uint64(info.NumRedelivered), AckFloor: info.AckFloor.Stream,
			}
			if h.Pending > 0 || h.AckPending > 0 {
				if at, ok := b.oldestUnacked(ctx, st, info); ok && now.After(at) {
					h.OldestUnacked = now.Sub(at)
				}
			}
			out = append(out, h)
		}
		if err := lister.Err(); err != nil {
			return nil, fmt.Errorf("consumer health of %s: %w", spec.Name, err)
		}
	}
	slices.SortFunc(out, func(a, b ConsumerHealth) int {
		if a.Stream != b.Stream {
			if a.Stream < b.Stream {
				return -1
			}
			return 1
		}
		if a.Durable < b.Durable {
			return -1
		}
		if a.Durable > b.Durable {
			return 1
		}
		return 0
	})
	return out, nil
}

// oldestUnacked returns when the first message after the consumer's ack
// floor that matches its filter was stored.
func (b *Bus) oldestUnacked(ctx context.Context, st jetstream.Stream, info *jetstream.ConsumerInfo) (time.Time, bool) {
	filters := info.Config.FilterSubjects
	if info.Config.FilterSubject != "" {
		filters = append(filters, info.Config.FilterSubject)
	}
	if len(filters) == 0 {
		filters = []string{">"}
	}
	var first *jetstream.RawStreamMsg
	for _, f := range filters {
		m, err := st.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(f))
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgNotFound) {
				b.logger.Debug("oldest unacknowledged message", "consumer", info.Name, "err", err)
			}
			continue
		}
		if first == nil || m.Sequence < first.Sequence {
			first = m
		}
	}
	if first == nil {
		return time.Time{}, false
	}
	return first.Time, true
}

// PipelineHealth is the health of one process of the pipeline (a `vigil
// engine` or `vigil run`): how far the durable consumers are behind, and
// what the process's bus and ClickHouse writer counted. It travels in a
// health event as Health.Pipeline, so that lag, redeliveries and failed
// inserts are in the event log and in ClickHouse (table pipeline_health)
// with the rest, not only on a Prometheus scrape. The event's time is the
// wall clock of the observation: these figures describe the running
// system, which has no event time.
type PipelineHealth struct {
	// Process names the reporting process (engine.name, by default the
	// host name). It is the event's partition key.
	Process string `json:"process"`
	// Consumers lists every durable consumer of the v1 streams, sorted by
	// stream and name, whichever process runs it: one report shows the
	// whole pipeline's lag, and every process reports the same consumers.
	Consumers []ConsumerHealth `json:"consumers"`
	// ConsumersError says why the consumers could not be read (NATS
	// unreachable, a stream missing); Consumers is then empty.
	ConsumersError string `json:"consumers_error,omitempty"`
	// Bus counts this process's publishes and handled messages.
	Bus BusHealth `json:"bus"`
	// Store holds the ClickHouse writer's counters; absent when the
	// process runs no writer.
	Store *StoreHealth `json:"store,omitempty"`
}

// BusHealth is events.BusStats as it is published: totals since the
// process started, in messages.
type BusHealth struct {
	// Published events stored by JetStream; Duplicates publishes it
	// dropped as already stored; PublishErrors publishes that failed.
	Published     uint64 `json:"published"`
	Duplicates    uint64 `json:"duplicates"`
	PublishErrors uint64 `json:"publish_errors"`
	// Delivered messages handled and acknowledged; Redelivered skipped
	// as already handled; Retries handler errors retried in place;
	// Poison messages terminated as unprocessable.
	Delivered   uint64 `json:"delivered"`
	Redelivered uint64 `json:"redelivered"`
	Retries     uint64 `json:"retries"`
	Poison      uint64 `json:"poison"`
}

// BusHealthOf is the published form of a bus's counters.
func BusHealthOf(s BusStats) BusHealth {
	return BusHealth{
		Published: s.Published, Duplicates: s.Duplicates, PublishErrors: s.PublishErrors,
		Delivered: s.Delivered, Redelivered: s.Redelivered, Retries: s.Retries, Poison: s.Poison,
	}
}

// StoreHealth is the ClickHouse writer's counters (store.WriterStats):
// totals since the process started, in messages, rows or batches.
type StoreHealth struct {
	// Received messages fetched from JetStream, redeliveries included.
	Received uint64 `json:"received"`
	// Inserted event rows; Duplicates events not inserted because already
	// stored; Rejected messages stored in rejected_events instead.
	Inserted   uint64 `json:"inserted"`
	Duplicates uint64 `json:"duplicates"`
	Rejected   uint64 `json:"rejected"`
	// InsertErrors failed insert attempts (each retried until it works).
	InsertErrors uint64 `json:"insert_errors"`
	// Batches inserted and acknowledged; AckErrors batch acknowledgements
	// that failed (the batch comes back and is found stored).
	Batches   uint64 `json:"batches"`
	AckErrors uint64 `json:"ack_errors"`
}
