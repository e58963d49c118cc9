package events

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"
)

// CheckpointBucket is the JetStream object store holding projection
// checkpoints (inventory, baselines, ...), one object per projection.
const CheckpointBucket = "VIGIL_CHECKPOINTS"

// Checkpointer saves and loads projection state with the stream sequence
// it reflects.
type Checkpointer interface {
	SaveCheckpoint(ctx context.Context, name string, seq uint64, state []byte) error
	// LoadCheckpoint returns ok=false when none was saved.
	LoadCheckpoint(ctx context.Context, name string) (seq uint64, state []byte, ok bool, err error)
}

var _ Checkpointer = (*Bus)(nil)

// checkpointMagic starts every checkpoint object, then the sequence (8
// bytes, big endian), then the state.
const checkpointMagic = "VGCP1"

func (b *Bus) checkpoints(ctx context.Context) (jetstream.ObjectStore, error) {
	os, err := b.js.ObjectStore(ctx, CheckpointBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		os, err = b.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: CheckpointBucket, Description: "Vigil projection checkpoints",
			Storage: jetstream.FileStorage, Replicas: b.cfg.Replicas,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint store: %w", err)
	}
	return os, nil
}

// SaveCheckpoint stores state as the checkpoint of name at stream
// sequence seq, replacing the previous one.
func (b *Bus) SaveCheckpoint(ctx context.Context, name string, seq uint64, state []byte) error {
	name = b.cfg.Share.name(name)
	os, err := b.checkpoints(ctx)
	if err != nil {
		return err
	}
	var hdr [len(checkpointMagic) + 8]byte
	copy(hdr[:], checkpointMagic)
	binary.BigEndian.PutUint64(hdr[len(checkpointMagic):], seq)
	r := io.MultiReader(bytes.NewReader(hdr[:]), bytes.NewReader(state))
	if _, err := os.Put(ctx, jetstream.ObjectMeta{Name: name}, r); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}

// LoadCheckpoint reads the checkpoint of name.
func (b *Bus) LoadCheckpoint(ctx context.Context, name string) (uint64, []byte, bool, error) {
	name = b.cfg.Share.name(name)
	os, err := b.checkpoints(ctx)
	if err != nil {
		return 0, nil, false, err
	}
	data, err := os.GetBytes(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	n := len(checkpointMagic)
	if len(data) < n+8 || string(data[:n]) != checkpointMagic {
		return 0, nil, false, fmt.Errorf("load checkpoint %s: not a Vigil checkpoint", name)
	}
	return binary.BigEndian.Uint64(data[n : n+8]), data[n+8:], true, nil
}
