package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LeaseBucket is the JetStream key-value bucket holding one key per
// engine slot ("slot.N"), whose value names the engine holding it. The
// bucket's MaxAge is the lease TTL: a key its holder stops refreshing
// disappears after it, and another engine may claim the slot.
const LeaseBucket = "VIGIL_ENGINE_SLOTS"

// ErrLeaseLost is reported when another engine took the slot (this one
// did not refresh it within the TTL, for example cut off from NATS).
// The engine must stop consuming at once: the slot's projections now
// belong to the other.
var ErrLeaseLost = errors.New("engine slot lease lost")

// LeaseConfiguration says which slot an engine takes.
type LeaseConfiguration struct {
	// Slots is how many engines share the partitions; each takes one
	// slot and consumes the partitions p with p % Slots == slot.
	Slots int
	// Slot is the slot to take, or -1 for the first free one (an engine
	// started while all are held waits as a standby).
	Slot int
	// TTL is how long a slot stays held without a refresh; it is
	// refreshed every TTL/3.
	TTL time.Duration
	// Replicas of the bucket (3 on a cluster).
	Replicas int
}

// Lease is one held slot.
type Lease struct {
	cfg    LeaseConfiguration
	kv     jetstream.KeyValue
	holder string
	logger *slog.Logger

	Slot int
	rev  uint64

	cancel context.CancelFunc
	wg     sync.WaitGroup
	lost   chan error
}

// Claim takes a slot for holder, waiting while every wanted slot is held
// (a standby engine), until ctx ends.
func Claim(ctx context.Context, js jetstream.JetStream, cfg LeaseConfiguration, holder string, logger *slog.Logger) (*Lease, error) {
	if cfg.Slots < 1 || cfg.Slot < -1 || cfg.Slot >= cfg.Slots {
		return nil, fmt.Errorf("lease: slot %d of %d does not exist", cfg.Slot, cfg.Slots)
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("lease: ttl %s is shorter than 1s", cfg.TTL)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: LeaseBucket, Description: "Vigil engine slot leases",
		TTL: cfg.TTL, History: 1, Storage: jetstream.FileStorage, Replicas: max(cfg.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("lease bucket: %w", err)
	}
	want := []int{cfg.Slot}
	if cfg.Slot < 0 {
		want = want[:0]
		for s := range cfg.Slots {
			want = append(want, s)
		}
	}
	waiting := false
	for {
		for _, s := range want {
			rev, err := kv.Create(ctx, key(s), []byte(holder))
			if err == nil {
				l := &Lease{cfg: cfg, kv: kv, holder: holder, logger: logger.With("component", "lease", "slot", s), Slot: s, rev: rev, lost: make(chan error, 1)}
				l.logger.Info("engine slot claimed", "slots", cfg.Slots, "holder", holder)
				return l, nil
			}
			if !errors.Is(err, jetstream.ErrKeyExists) {
				return nil, fmt.Errorf("claim slot %d: %w", s, err)
			}
		}
		if !waiting {
			logger.Info("every slot is held: waiting as a standby", "slots", cfg.Slots, "wanted", want)
			waiting = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("claim a slot of %d: %w", cfg.Slots, ctx.Err())
		case <-time.After(cfg.TTL / 4):
		}
	}
}

func key(slot int) string { return "slot." + strconv.Itoa(slot) }

// Start refreshes the lease every TTL/3 until Stop; Lost reports when it
// could not.
func (l *Lease) Start(ctx context.Context) error {
	ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(l.cfg.TTL / 3)
		defer t.Stop()
		lastOK := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			uctx, cancel := context.WithTimeout(ctx, l.cfg.TTL/3)
			rev, err := l.kv.Update(uctx, key(l.Slot), []byte(l.holder), l.rev)
			cancel()
			if err == nil {
				l.rev, lastOK = rev, time.Now()
				continue
			}
			if ctx.Err() != nil {
				return
			}
			// A revision mismatch means another engine wrote the key; a
			// refresh missing for a whole TTL means the key may have
			// expired and been claimed. Either way the slot is gone.
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || time.Since(lastOK) >= l.cfg.TTL {
				l.lost <- fmt.Errorf("%w: slot %d: %v", ErrLeaseLost, l.Slot, err)
				return
			}
			l.logger.Warn("lease refresh failed; retrying", "err", err)
		}
	}()
	return nil
}

// Lost delivers an error when the lease is lost.
func (l *Lease) Lost() <-chan error { return l.lost }

// Stop stops refreshing and frees the slot, so a standby takes it at
// once instead of after the TTL.
func (l *Lease) Stop(ctx context.Context) error {
	if l.cancel != nil {
		l.cancel()
		l.wg.Wait()
	}
	err := l.kv.Delete(ctx, key(l.Slot), jetstream.LastRevision(l.rev))
	if err != nil {
		return fmt.Errorf("free slot %d: %w", l.Slot, err)
	}
	l.logger.Info("engine slot freed")
	return nil
}
