package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	stdsync "sync"

	"github.com/nats-io/nats.go/jetstream"
)

// LedgerBucket is the JetStream key-value bucket remembering which
// excluded targets Vigil added, keyed by device ID.
const LedgerBucket = "VIGIL_SCANNER_EXCLUSIONS"

// extraKey is the ledger key of the configured extra exclusions.
const extraKey = "extra"

// Entry is what Vigil added to the InsightVM sites for one device (or
// for the extra exclusions): addresses by site ID.
type Entry struct {
	Sites map[string][]string `json:"sites"`
}

// Ledger remembers the exclusions Vigil added, so that it removes only
// its own and never an address an administrator excluded.
type Ledger interface {
	Load(ctx context.Context) (map[string]Entry, error)
	Put(ctx context.Context, key string, e Entry) error
	Delete(ctx context.Context, key string) error
}

// KVLedger keeps the ledger in a JetStream key-value bucket: it survives
// restarts and is shared by every engine of a cluster.
type KVLedger struct{ kv jetstream.KeyValue }

// NewKVLedger opens (or creates) the ledger bucket.
func NewKVLedger(ctx context.Context, js jetstream.JetStream, replicas int) (*KVLedger, error) {
	kv, err := js.KeyValue(ctx, LedgerBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: LedgerBucket, Description: "Vigil: InsightVM excluded targets added by Vigil, by device ID",
			Storage: jetstream.FileStorage, Replicas: max(replicas, 1), History: 5,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("scanner ledger: %w", err)
	}
	return &KVLedger{kv: kv}, nil
}

// Load reads every entry.
func (l *KVLedger) Load(ctx context.Context) (map[string]Entry, error) {
	out := map[string]Entry{}
	keys, err := l.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("scanner ledger: %w", err)
	}
	for k := range keys.Keys() {
		v, err := l.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("scanner ledger %s: %w", k, err)
		}
		var e Entry
		if err := json.Unmarshal(v.Value(), &e); err != nil {
			return nil, fmt.Errorf("scanner ledger %s: %w", k, err)
		}
		out[k] = e
	}
	return out, nil
}

// Put stores an entry.
func (l *KVLedger) Put(ctx context.Context, key string, e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := l.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("scanner ledger %s: %w", key, err)
	}
	return nil
}

// Delete removes an entry.
func (l *KVLedger) Delete(ctx context.Context, key string) error {
	if err := l.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("scanner ledger %s: %w", key, err)
	}
	return nil
}

// MemoryLedger is a ledger that lives as long as the process: for one-off
// runs (vigil scanner sync over captures), where nothing is removed that
// this run did not add.
type MemoryLedger struct {
	mu stdsync.Mutex
	m  map[string]Entry
}

// Load implements Ledger.
func (l *MemoryLedger) Load(context.Context) (map[string]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]Entry{}
	for k, v := range l.m {
		out[k] = v
	}
	return out, nil
}

// Put implements Ledger.
func (l *MemoryLedger) Put(_ context.Context, key string, e Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]Entry{}
	}
	l.m[key] = e
	return nil
}

// Delete implements Ledger.
func (l *MemoryLedger) Delete(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
	return nil
}

// owned returns, for one site, the addresses the ledger says Vigil added.
func owned(ledger map[string]Entry, site int) []string {
	seen := map[string]bool{}
	k := strconv.Itoa(site)
	for _, e := range ledger {
		for _, a := range e.Sites[k] {
			seen[a] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}
