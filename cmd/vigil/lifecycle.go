package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// component is anything with a lifecycle (STYLE.md rule 1).
type component interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// lifecycle starts components in dependency order and stops the started
// ones in reverse, including after a partial start.
type lifecycle struct {
	logger  *slog.Logger
	started []named
}

type named struct {
	name string
	c    component
}

// start starts c; on error the caller calls stop to undo what started.
func (l *lifecycle) start(ctx context.Context, name string, c component) error {
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	l.logger.Debug("started", "component", name)
	l.started = append(l.started, named{name, c})
	return nil
}

// stop stops everything started, in reverse order, with a fresh bounded
// context: shutdown must happen even when the run was cancelled.
func (l *lifecycle) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for i := len(l.started) - 1; i >= 0; i-- {
		n := l.started[i]
		if err := n.c.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", n.name, err))
		}
		l.logger.Debug("stopped", "component", n.name)
	}
	l.started = nil
	return errors.Join(errs...)
}
