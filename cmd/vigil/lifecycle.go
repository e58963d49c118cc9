package main

import (
	"cmp"
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
	// bounds of stop; zero means stopTimeout and componentStopTimeout.
	stopBound, componentBound time.Duration
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

// Shutdown bounds: the whole stop stays under the 30 s that supervisors
// (Kubernetes' grace period, systemd) commonly allow, and no component
// may spend more than its share, so one waiting on a dead server (a
// checkpoint while the NATS cluster elects a leader, a final insert into
// an unreachable ClickHouse) cannot starve the ones stopped after it,
// such as the slot lease a standby is waiting for. Whatever a component
// could not flush stays unacknowledged in JetStream and is delivered
// again: a cut-short stop loses no event.
const (
	stopTimeout          = 28 * time.Second
	componentStopTimeout = 10 * time.Second
)

// stop stops everything started, in reverse order, with fresh bounded
// contexts: shutdown must happen even when the run was cancelled.
func (l *lifecycle) stop() error {
	total, each := cmp.Or(l.stopBound, stopTimeout), cmp.Or(l.componentBound, componentStopTimeout)
	all, cancel := context.WithTimeout(context.Background(), total)
	defer cancel()
	var errs []error
	for i := len(l.started) - 1; i >= 0; i-- {
		n := l.started[i]
		ctx, cancel := context.WithTimeout(all, each)
		start := time.Now()
		err := n.c.Stop(ctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", n.name, err))
		}
		l.logger.Debug("stopped", "component", n.name, "took", time.Since(start).Round(time.Millisecond))
	}
	l.started = nil
	return errors.Join(errs...)
}
