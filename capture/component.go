// Package capture is Vigil's sensor: it reads packets from a source
// (pcap/pcapng files now, live interfaces later), decodes them without
// allocating, tracks bidirectional flows on packet time, identifies
// application protocols, runs the dissectors that read device facts, and
// publishes flow, observation and health events.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Publisher is the bus as the sensor sees it.
type Publisher interface {
	Publish(ctx context.Context, m events.Message) error
}

// Dependencies of the component.
type Dependencies struct {
	Logger    *slog.Logger
	Publisher Publisher
	// Sources opens packet sources; nil means DefaultSources().
	Sources *SourceRegistry
	// Identifiers name application protocols; nil means
	// dpi.DefaultIdentifiers().
	Identifiers *dpi.Identifiers
	// Dissectors builds the dissectors of one worker (dpi.Dissector,
	// dpi.StreamDissector and dpi.FrameDissector values), normally
	// protocols.Dissectors; nil runs no dissector (flows only).
	Dissectors func() []any
}

// Stats are the sensor's counters since it started.
type Stats struct {
	Packets, Bytes uint64
	DecodeErrors   uint64
	NonIP          uint64
	Truncated      uint64
	Flows          uint64 // flow end events
	Evictions      uint64
	ActiveFlows    uint64
	Observations   uint64
	Auths          uint64
	DissectErrors  uint64
	// StreamGaps counts TCP bytes missing from dissected streams (loss,
	// snap length), StreamOverflows PDUs larger than the stream buffer.
	StreamGaps      uint64
	StreamOverflows uint64
	// Fragments counts IP fragments, Reassembled the datagrams rebuilt
	// from them and FragmentsDropped those given up (see DefragStats).
	Fragments, Reassembled, FragmentsDropped uint64
	PublishErrors                            uint64
	SourceErrors                             uint64
}

// Component is the sensor.
type Component struct {
	cfg    Configuration
	deps   Dependencies
	source events.Source

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	err     error

	packets, bytes, decodeErrors, nonIP, truncated atomic.Uint64
	flows, evictions, activeFlows, observations    atomic.Uint64
	auths, streamGaps, streamOverflows             atomic.Uint64
	fragments, reassembled, fragmentsDropped       atomic.Uint64
	dissectErrors, publishErrors, sourceErrors     atomic.Uint64
}

// New checks the configuration and returns an inert component.
func New(cfg Configuration, deps Dependencies) (*Component, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("capture configuration: %w", err)
	}
	if deps.Publisher == nil {
		return nil, errors.New("capture: no publisher")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Sources == nil {
		deps.Sources = DefaultSources()
	}
	if deps.Identifiers == nil {
		deps.Identifiers = dpi.DefaultIdentifiers()
	}
	if deps.Dissectors == nil {
		deps.Dissectors = func() []any { return nil }
	}
	return &Component{
		cfg: cfg, deps: deps,
		source: events.Source{Component: "sensor", Name: cfg.Name, Site: cfg.Site},
		done:   make(chan struct{}),
	}, nil
}

// Start reads the configured files in a goroutine. Done is closed when the
// files are finished (or Stop was called); Err then says how it ended.
func (c *Component) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("capture: already started")
	}
	if len(c.cfg.Files) == 0 {
		return errors.New("capture: no files configured")
	}
	c.started = true
	ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(c.done)
		err := c.Run(ctx)
		if errors.Is(err, context.Canceled) {
			err = nil // stopped on purpose
		}
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}()
	return nil
}

// Stop ends the capture and waits for it, at most until ctx is done.
func (c *Component) Stop(ctx context.Context) error {
	c.mu.Lock()
	started, cancel := c.started, c.cancel
	c.mu.Unlock()
	if !started {
		return nil
	}
	cancel()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop capture: %w", ctx.Err())
	}
}

// Done is closed when a started capture has finished.
func (c *Component) Done() <-chan struct{} { return c.done }

// Err is the outcome of a finished capture: nil, or the source and
// publish errors it met. It is nil while the capture runs.
func (c *Component) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stats returns the counters.
func (c *Component) Stats() Stats {
	return Stats{
		Packets: c.packets.Load(), Bytes: c.bytes.Load(), DecodeErrors: c.decodeErrors.Load(),
		NonIP: c.nonIP.Load(), Truncated: c.truncated.Load(), Flows: c.flows.Load(),
		Evictions: c.evictions.Load(), ActiveFlows: c.activeFlows.Load(),
		Observations: c.observations.Load(), Auths: c.auths.Load(), DissectErrors: c.dissectErrors.Load(),
		StreamGaps: c.streamGaps.Load(), StreamOverflows: c.streamOverflows.Load(),
		Fragments: c.fragments.Load(), Reassembled: c.reassembled.Load(), FragmentsDropped: c.fragmentsDropped.Load(),
		PublishErrors: c.publishErrors.Load(), SourceErrors: c.sourceErrors.Load(),
	}
}

// Run reads the configured files synchronously, publishing events in a
// deterministic order, and flushes all flows at the end. It returns the
// errors of broken files (after processing every complete packet of them
// and the files after them) and of failed publishes, joined; or the
// context's error if it was cancelled.
func (c *Component) Run(ctx context.Context) error {
	src, err := c.deps.Sources.Open(SourceSpec{Kind: SourceKindFile, Files: c.cfg.Files})
	if err != nil {
		return err
	}
	defer src.Close()
	return c.run(ctx, src)
}

// RunSource is Run over any source.
func (c *Component) RunSource(ctx context.Context, src Source) error {
	return c.run(ctx, src)
}

type pipeline struct {
	c       *Component
	ctx     context.Context
	decoder *Decoder
	table   *FlowTable
	diss    *dpi.Dissectors
	dec     Decoded
	dpkt    dpi.Packet
	frame   dpi.Frame
	out     dpi.Output
	streams streamSet
	defrag  *defragmenter

	firstPublishErr error
	iface           string
	lastPacket      time.Time
	haveTime        bool
	nextHealth      time.Time
}

func (c *Component) run(ctx context.Context, src Source) error {
	diss, err := dpi.NewDissectors(c.deps.Dissectors()...)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	p := &pipeline{c: c, ctx: ctx, decoder: NewDecoder(), diss: diss, iface: src.Name(),
		streams: streamSet{maxBuffer: c.cfg.StreamBuffer},
		defrag:  newDefragmenter(DefragConfig{MaxDatagrams: c.cfg.MaxFragmented, Timeout: c.cfg.FragmentTimeout})}
	p.table = NewFlowTable(c.cfg.flowTableConfig(), c.deps.Identifiers, p.emitFlow)
	p.table.finish = p.finishFlow

	log := c.deps.Logger.With("sensor", c.cfg.Name)
	log.Info("capture started", "source", src.Name())
	var srcErrs []error
	var pkt Packet
	var n uint64
	for {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				srcErrs = append(srcErrs, err)
				break
			}
		}
		n++
		err := src.Next(&pkt)
		if err == io.EOF {
			break
		}
		if err != nil {
			c.sourceErrors.Add(1)
			srcErrs = append(srcErrs, err)
			continue
		}
		p.packet(&pkt)
	}
	// Flush with a context that survives cancellation, so stopping a
	// sensor still reports every flow it held.
	p.ctx = context.WithoutCancel(ctx)
	p.table.Flush()
	p.health(true)
	st := c.Stats()
	log.Info("capture finished", "packets", st.Packets, "flows", st.Flows,
		"decode_errors", st.DecodeErrors, "publish_errors", st.PublishErrors, "source_errors", st.SourceErrors)
	if p.firstPublishErr != nil {
		srcErrs = append(srcErrs, fmt.Errorf("publish: %d events failed, first: %w", st.PublishErrors, p.firstPublishErr))
	}
	return errors.Join(srcErrs...)
}

func (p *pipeline) packet(pkt *Packet) {
	c := p.c
	c.packets.Add(1)
	c.bytes.Add(uint64(pkt.Info.Length))
	if pkt.Info.CaptureLength < pkt.Info.Length {
		c.truncated.Add(1)
	}
	p.iface = pkt.Origin
	ts := pkt.Info.Timestamp
	if !p.haveTime {
		p.haveTime = true
		p.nextHealth = ts.Truncate(c.cfg.HealthInterval).Add(c.cfg.HealthInterval)
		p.lastPacket = ts
	}
	if !ts.Before(p.nextHealth) {
		boundary := ts.Truncate(c.cfg.HealthInterval)
		p.table.Advance(boundary)
		p.healthAt(boundary, false)
		p.nextHealth = boundary.Add(c.cfg.HealthInterval)
	}
	if ts.After(p.lastPacket) {
		p.lastPacket = ts
	}

	switch p.decoder.Decode(pkt.LinkType, pkt.Data, pkt.Info, &p.dec) {
	case DecodeError:
		c.decodeErrors.Add(1)
		return
	case DecodeNonIP:
		c.nonIP.Add(1)
		p.nonIP()
		return
	}
	if p.dec.Fragment && !p.reassemble(pkt) {
		return
	}
	info, ok := p.table.Packet(&p.dec)
	c.activeFlows.Store(uint64(p.table.Len()))
	c.evictions.Store(p.table.Evictions())
	if !ok || info.AppProto == "" || len(p.dec.Payload) == 0 {
		return
	}
	ds := p.diss.For(info.AppProto)
	var ss []dpi.StreamDissector
	if p.dec.Protocol == protoTCP {
		ss = p.diss.StreamsFor(info.AppProto)
	}
	if len(ds) == 0 && len(ss) == 0 {
		return
	}
	p.dec.dpiPacket(&p.dpkt, info.ID, info.FromOrig)
	p.out.Reset()
	for _, dis := range ds {
		if err := dis.Dissect(&p.dpkt, &p.out); err != nil {
			c.dissectErrors.Add(1)
		}
	}
	f := info.flow
	if len(ss) > 0 {
		if f.app == nil {
			f.app = &appState{}
			for _, sd := range ss {
				f.app.streams = append(f.app.streams, &streamState{name: sd.Name(), s: sd.NewStream(&p.dpkt)})
			}
		}
		p.streams.segment(f.app, &p.dpkt, info.Dir, p.dec.Seq, p.dec.PayloadLength, &p.out)
		c.dissectErrors.Add(p.streams.errors)
		p.streams.errors = 0
		c.streamGaps.Store(p.streams.gaps)
		c.streamOverflows.Store(p.streams.overflows)
	}
	if len(p.out.Counters) > 0 {
		if f.app == nil {
			f.app = &appState{}
		}
		f.app.count(p.out.Counters)
	}
	p.publishOutput(p.dec.Time)
}

// reassemble feeds a fragment to the defragmenter; when it completes a
// datagram, p.dec becomes the whole datagram (with the link-layer facts
// of the last fragment) and reassemble returns true.
func (p *pipeline) reassemble(pkt *Packet) bool {
	c := p.c
	whole := p.defrag.add(&p.dec)
	st := p.defrag.stats
	c.fragments.Store(st.Fragments)
	c.reassembled.Store(st.Reassembled)
	c.fragmentsDropped.Store(st.Dropped)
	if whole == nil {
		return false
	}
	link := p.dec
	ci := pkt.Info
	ci.CaptureLength, ci.Length = len(whole), len(whole)
	if p.decoder.Decode(layers.LinkTypeRaw, whole, ci, &p.dec) != DecodeOK {
		c.decodeErrors.Add(1)
		return false
	}
	p.dec.HasMAC, p.dec.SrcMAC, p.dec.DstMAC = link.HasMAC, link.SrcMAC, link.DstMAC
	p.dec.VLAN, p.dec.InnerVLAN = link.VLAN, link.InnerVLAN
	return true
}

// nonIP hands a frame without IP to the frame dissectors.
func (p *pipeline) nonIP() {
	fds := p.diss.Frames()
	if len(fds) == 0 || !p.dec.HasMAC {
		return
	}
	d := &p.dec
	p.frame = dpi.Frame{Time: d.Time, SrcMAC: d.SrcMAC, DstMAC: d.DstMAC, VLAN: d.VLAN,
		EtherType: d.EtherType, Payload: d.LinkPayload}
	if d.EtherType == 0 {
		// 802.3 with LLC: DSAP, SSAP, control, and SNAP when both SAPs
		// are 0xAA.
		b := d.LinkPayload
		if len(b) >= 8 && b[0] == 0xaa && b[1] == 0xaa && b[2] == 0x03 {
			copy(p.frame.SNAPOrg[:], b[3:6])
			p.frame.SNAPPID = uint16(b[6])<<8 | uint16(b[7])
			p.frame.Payload = b[8:]
		} else if len(b) >= 3 {
			p.frame.Payload = b[3:]
		}
	}
	p.out.Reset()
	for _, fd := range fds {
		if !fd.Match(&p.frame) {
			continue
		}
		if err := fd.DissectFrame(&p.frame, &p.out); err != nil {
			p.c.dissectErrors.Add(1)
		}
	}
	p.publishOutput(d.Time)
}

// finishFlow ends the streams of a flow before its end event.
func (p *pipeline) finishFlow(f *flow) {
	p.out.Reset()
	f.app.end(&p.out)
	f.app.count(p.out.Counters)
	p.publishOutput(f.last)
}

// publishOutput publishes the observations and auths in p.out at time at.
func (p *pipeline) publishOutput(at time.Time) {
	c := p.c
	for _, o := range p.out.Observations {
		c.observations.Add(1)
		p.publish(events.MustEvent(at, c.source, o))
	}
	for _, a := range p.out.Auths {
		c.auths.Add(1)
		p.publish(events.MustEvent(at, c.source, a))
	}
}

func (p *pipeline) emitFlow(f events.Flow) {
	at := f.Last
	if f.Phase == events.FlowStart {
		at = f.Start
	} else if f.Phase == events.FlowEnd {
		p.c.flows.Add(1)
	}
	p.publish(events.MustEvent(at, p.c.source, f))
}

func (p *pipeline) publish(m events.Message) {
	if err := p.c.deps.Publisher.Publish(p.ctx, m); err != nil {
		p.c.publishErrors.Add(1)
		if p.firstPublishErr == nil {
			p.firstPublishErr = err
		}
	}
}

func (p *pipeline) health(final bool) {
	at := p.lastPacket
	if !p.haveTime {
		at = time.Unix(0, 0)
	}
	p.healthAt(at, final)
}

func (p *pipeline) healthAt(at time.Time, final bool) {
	c := p.c
	c.activeFlows.Store(uint64(p.table.Len()))
	c.evictions.Store(p.table.Evictions())
	h := events.Health{
		Sensor: c.cfg.Name, Interface: p.iface, IntervalMS: c.cfg.HealthInterval.Milliseconds(),
		Packets: c.packets.Load(), Bytes: c.bytes.Load(),
		DecodeErrors: c.decodeErrors.Load(), Truncated: c.truncated.Load(),
		ActiveFlows: c.activeFlows.Load(), FlowEvictions: c.evictions.Load(),
		PublishErrors: c.publishErrors.Load(),
		Final:         final,
	}
	if c.cfg.SilentAfter > 0 {
		h.SilentAfterMS = c.cfg.SilentAfter.Milliseconds()
		h.Silent = p.haveTime && at.Sub(p.lastPacket) >= c.cfg.SilentAfter
	}
	p.publish(events.MustEvent(at, c.source, h))
}
