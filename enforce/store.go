package enforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Keys of the bucket: one per block, and the control records.
const (
	blockPrefix   = "block."
	keyKillSwitch = "control.kill_switch"
	keyRate       = "control.rate"
)

// store is the desired set in a JetStream key-value bucket. Every block
// carries its own message TTL (its end plus the retention), so the bucket
// forgets what expired without a sweeper; updates are compare-and-set on
// the key's revision, so two writers cannot overwrite each other.
type store struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	prefix string // "$KV.<bucket>."
}

func openStore(ctx context.Context, js jetstream.JetStream, bucket string) (*store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "Vigil enforcement: the desired set of blocks and the kill switch",
		History:     1,
		// Per-key TTLs need limit markers: a key that expires leaves a
		// delete marker watchers see, kept this long.
		LimitMarkerTTL: time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	return &store{js: js, kv: kv, prefix: "$KV." + bucket + "."}, nil
}

// create stores a new key; it returns false when the key exists.
func (s *store) create(ctx context.Context, key string, v any, ttl time.Duration) (uint64, bool, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, false, fmt.Errorf("encode %s: %w", key, err)
	}
	rev, err := s.kv.Create(ctx, key, data, ttlOpt(ttl))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store %s: %w", key, err)
	}
	return rev, true, nil
}

// update replaces the key at revision rev with v and a new TTL (0: none).
func (s *store) update(ctx context.Context, key string, v any, rev uint64, ttl time.Duration) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", key, err)
	}
	opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(rev)}
	if ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(max(ttl, time.Second)))
	}
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: s.prefix + key, Data: data}, opts...)
	if err != nil {
		return 0, fmt.Errorf("store %s at revision %d: %w", key, rev, err)
	}
	return ack.Sequence, nil
}

// put writes a control record whatever its revision.
func (s *store) put(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if _, err := s.kv.Put(ctx, key, data); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// get reads a control record; false when absent.
func (s *store) get(ctx context.Context, key string, v any) (bool, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// block reads one block and its revision.
func (s *store) block(ctx context.Context, id string) (Block, uint64, error) {
	e, err := s.kv.Get(ctx, blockPrefix+id)
	if err != nil {
		return Block{}, 0, fmt.Errorf("read block %s: %w", id, err)
	}
	var b Block
	if err := json.Unmarshal(e.Value(), &b); err != nil {
		return Block{}, 0, fmt.Errorf("decode block %s: %w", id, err)
	}
	return b, e.Revision(), nil
}

// blocks reads every block of the bucket with its revision. A value that
// does not decode is reported, not skipped silently.
func (s *store) blocks(ctx context.Context, fn func(Block, uint64)) error {
	w, err := s.kv.WatchFiltered(ctx, []string{blockPrefix + ">"}, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("read blocks: %w", err)
	}
	defer w.Stop()
	var bad []string
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("read blocks: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("read blocks: watcher closed")
			}
			if e == nil { // the initial values are all delivered
				if len(bad) > 0 {
					return fmt.Errorf("read blocks: undecodable values at %s", strings.Join(bad, ", "))
				}
				return nil
			}
			var b Block
			if err := json.Unmarshal(e.Value(), &b); err != nil {
				bad = append(bad, e.Key())
				continue
			}
			fn(b, e.Revision())
		}
	}
}

func ttlOpt(ttl time.Duration) jetstream.KVCreateOpt {
	if ttl <= 0 {
		return nil
	}
	return jetstream.KeyTTL(max(ttl, time.Second))
}
