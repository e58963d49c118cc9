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

// Checkpointer saves and loads projection state with the stream position
// it resumes from (the next event to apply).
type Checkpointer interface {
	SaveCheckpoint(ctx context.Context, name string, next Position, state []byte) error
	// LoadCheckpoint returns ok=false when none was saved.
	LoadCheckpoint(ctx context.Context, name string) (next Position, state []byte, ok bool, err error)
}

var _ Checkpointer = (*Bus)(nil)

// checkpointMagic starts every checkpoint object, then the next
// position's sequence (8 bytes, big endian) and index (4 bytes), then the
// state. Objects of the first format (checkpointMagicV1, the sequence of
// the last message applied, when every message held one event) still
// load.
const (
	checkpointMagic   = "VGCP2"
	checkpointMagicV1 = "VGCP1"
)

// checkpoints returns the checkpoint object store, creating it on first
// use. Each request is retried while the cluster elects a leader: an
// engine stopping just after a node died must still save its state, not
// wait for an answer that never comes.
func (b *Bus) checkpoints(ctx context.Context) (jetstream.ObjectStore, error) {
	var os jetstream.ObjectStore
	err := b.retryAPI(ctx, "checkpoint store", func(ctx context.Context) error {
		var err error
		os, err = b.js.ObjectStore(ctx, CheckpointBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			os, err = b.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
				Bucket: CheckpointBucket, Description: "Vigil projection checkpoints",
				Storage: jetstream.FileStorage, Replicas: b.cfg.Replicas,
			})
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint store: %w", err)
	}
	return os, nil
}

// SaveCheckpoint stores state as the checkpoint of name, to resume at
// next, replacing the previous one. An attempt cut short is repeated
// whole: the object's new version replaces whatever it left.
func (b *Bus) SaveCheckpoint(ctx context.Context, name string, next Position, state []byte) error {
	name = b.cfg.Share.name(name)
	os, err := b.checkpoints(ctx)
	if err != nil {
		return err
	}
	var hdr [len(checkpointMagic) + 12]byte
	copy(hdr[:], checkpointMagic)
	binary.BigEndian.PutUint64(hdr[len(checkpointMagic):], next.Seq)
	binary.BigEndian.PutUint32(hdr[len(checkpointMagic)+8:], uint32(next.Index))
	err = b.retryAPI(ctx, "save checkpoint "+name, func(ctx context.Context) error {
		r := io.MultiReader(bytes.NewReader(hdr[:]), bytes.NewReader(state))
		_, err := os.Put(ctx, jetstream.ObjectMeta{Name: name}, r)
		return err
	})
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}

// LoadCheckpoint reads the checkpoint of name.
func (b *Bus) LoadCheckpoint(ctx context.Context, name string) (Position, []byte, bool, error) {
	name = b.cfg.Share.name(name)
	os, err := b.checkpoints(ctx)
	if err != nil {
		return Position{}, nil, false, err
	}
	var data []byte
	err = b.retryAPI(ctx, "load checkpoint "+name, func(ctx context.Context) error {
		var err error
		data, err = os.GetBytes(ctx, name)
		return err
	})
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return Position{}, nil, false, nil
	}
	if err != nil {
		return Position{}, nil, false, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	next, state, err := parseCheckpoint(data)
	if err != nil {
		return Position{}, nil, false, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	return next, state, true, nil
}

func parseCheckpoint(data []byte) (Position, []byte, error) {
	n := len(checkpointMagic)
	switch {
	case len(data) >= n+12 && string(data[:n]) == checkpointMagic:
		return Position{binary.BigEndian.Uint64(data[n : n+8]), int(binary.BigEndian.Uint32(data[n+8 : n+12]))}, data[n+12:], nil
	case len(data) >= n+8 && string(data[:n]) == checkpointMagicV1:
		return Position{binary.BigEndian.Uint64(data[n:n+8]) + 1, 0}, data[n+8:], nil
	}
	return Position{}, nil, errors.New("not a Vigil checkpoint")
}
