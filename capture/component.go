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
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Publisher is the bus as the sensor sees it.
type Publisher interface {
	Publish(ctx context.Context, m events.Message) error
}

// EncodedPublisher is a Publisher that also takes events already encoded
// (events.Batcher): the sensor hands its events over without boxing each
// into an events.Message, which allocated a copy of every event.
type EncodedPublisher interface {
	PublishEncoded(ctx context.Context, h events.Header, device uint32, payload []byte) error
}

// Flusher is a Publisher that holds events back to send them in batches
// (events.Batcher): a capture that ends flushes it, so every event it
// produced is stored when Run returns.
type Flusher interface {
	Flush(ctx context.Context) error
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
	// OpenLive opens one live socket; nil means OpenAFPacket (Linux).
	OpenLive func(iface string, bufferBytes int, fanout uint16, filter []bpf.RawInstruction, poll time.Duration) (LiveSource, error)
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
	// KernelReceived and KernelDrops are the kernel's counters of live
	// sockets: packets it queued and packets it dropped because the ring
	// was full (the sensor was too slow).
	KernelReceived, KernelDrops uint64
	// TimeJumps counts backward jumps of capture time (over a minute),
	// each ending the flows held.
	TimeJumps     uint64
	PublishErrors uint64
	SourceErrors  uint64
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
	flows, observations, auths, timeJumps          atomic.Uint64
	// workers holds each capture worker's gauges (flow table size,
	// evictions, stream and reassembly counters), summed by Stats.
	workersMu sync.Mutex
	workers   []*workerGauges
	// live are the live sources, for the kernel's drop counters.
	live                                       []LiveSource
	dissectErrors, publishErrors, sourceErrors atomic.Uint64
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
	if deps.OpenLive == nil {
		deps.OpenLive = openLive
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
	if len(c.cfg.Files) == 0 && c.cfg.Interface == "" {
		return errors.New("capture: no files and no interface configured")
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

// workerGauges are one capture worker's current values.
type workerGauges struct {
	activeFlows, evictions, streamGaps, streamOverflows gauge
	fragments, reassembled, fragmentsDropped            atomic.Uint64
}

// gauge is an atomic value written by its worker alone, which keeps the
// last value written: writing the same value again (most packets) costs a
// compare instead of a locked instruction (these stores on every packet
// were about 1% of the sensor's time).
type gauge struct {
	atomic.Uint64
	last uint64 // the worker's copy; only the worker reads it
}

func (g *gauge) set(v uint64) {
	if v != g.last {
		g.last = v
		g.Store(v)
	}
}

type gaugeSums struct {
	activeFlows, evictions, streamGaps, streamOverflows uint64
	fragments, reassembled, fragmentsDropped            uint64
}

func (c *Component) gauges() gaugeSums {
	c.workersMu.Lock()
	defer c.workersMu.Unlock()
	var g gaugeSums
	for _, w := range c.workers {
		g.activeFlows += w.activeFlows.Load()
		g.evictions += w.evictions.Load()
		g.streamGaps += w.streamGaps.Load()
		g.streamOverflows += w.streamOverflows.Load()
		g.fragments += w.fragments.Load()
		g.reassembled += w.reassembled.Load()
		g.fragmentsDropped += w.fragmentsDropped.Load()
	}
	return g
}

func (c *Component) kernelStats() (received, dropped uint64) {
	c.workersMu.Lock()
	defer c.workersMu.Unlock()
	for _, s := range c.live {
		r, d := s.KernelStats()
		received += r
		dropped += d
	}
	return received, dropped
}

// Stats returns the counters.
func (c *Component) Stats() Stats {
	g := c.gauges()
	kr, kd := c.kernelStats()
	return Stats{
		Packets: c.packets.Load(), Bytes: c.bytes.Load(), DecodeErrors: c.decodeErrors.Load(),
		NonIP: c.nonIP.Load(), Truncated: c.truncated.Load(), Flows: c.flows.Load(),
		Evictions: g.evictions, ActiveFlows: g.activeFlows,
		Observations: c.observations.Load(), Auths: c.auths.Load(), DissectErrors: c.dissectErrors.Load(),
		StreamGaps: g.streamGaps, StreamOverflows: g.streamOverflows,
		Fragments: g.fragments, Reassembled: g.reassembled, FragmentsDropped: g.fragmentsDropped,
		KernelReceived: kr, KernelDrops: kd, TimeJumps: c.timeJumps.Load(),
		PublishErrors: c.publishErrors.Load(), SourceErrors: c.sourceErrors.Load(),
	}
}

// Run captures synchronously until the files end (or, live, until ctx is
// cancelled). Files are read in order and give deterministic events;
// every flow is flushed at the end. It returns the errors of broken files
// (after processing every complete packet of them and the files after
// them) and of failed publishes, joined; or the context's error if it was
// cancelled while reading files.
func (c *Component) Run(ctx context.Context) error {
	if c.cfg.Interface != "" {
		return c.runLive(ctx)
	}
	src, err := c.deps.Sources.Open(SourceSpec{Kind: SourceKindFile, Files: c.cfg.Files})
	if err != nil {
		return err
	}
	defer src.Close()
	return c.run(ctx, src, 0)
}

// RunSource is Run over any source.
func (c *Component) RunSource(ctx context.Context, src Source) error {
	return c.run(ctx, src, 0)
}

// runLive captures from the configured interface with one AF_PACKET
// socket per worker, joined in a fanout group so each flow stays on one
// worker (and its flow table).
func (c *Component) runLive(ctx context.Context) error {
	if !LiveSupported() {
		return fmt.Errorf("capture on %s: live capture needs Linux (AF_PACKET)", c.cfg.Interface)
	}
	prog, err := c.filterProgram(ctx)
	if err != nil {
		return err
	}
	var fanout uint16
	if c.cfg.Workers > 1 {
		fanout = uint16(os.Getpid()&0x7fff) | 1
	}
	srcs := make([]LiveSource, 0, c.cfg.Workers)
	for range c.cfg.Workers {
		s, err := c.deps.OpenLive(c.cfg.Interface, c.cfg.BufferMB<<20/c.cfg.Workers, fanout, prog, c.cfg.PollInterval)
		if err != nil {
			for _, o := range srcs {
				o.Close()
			}
			return err
		}
		srcs = append(srcs, s)
	}
	c.workersMu.Lock()
	c.live = srcs
	c.workersMu.Unlock()
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			errs[i] = c.run(ctx, s, i)
		}()
	}
	wg.Wait()
	err = errors.Join(errs...)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil // stopped on purpose
	}
	return err
}

func (c *Component) filterProgram(ctx context.Context) ([]bpf.RawInstruction, error) {
	if c.cfg.FilterProgram != "" {
		return ParseFilterProgram(c.cfg.FilterProgram)
	}
	return CompileFilter(ctx, c.cfg.Filter)
}

type pipeline struct {
	c       *Component
	ctx     context.Context
	worker  int
	decoder *Decoder
	table   *FlowTable
	diss    *dpi.Dissectors
	dec     Decoded
	dpkt    dpi.Packet
	frame   dpi.Frame
	out     dpi.Output
	streams streamSet
	defrag  *defragmenter
	gauges  *workerGauges

	firstPublishErr error
	iface           string
	lastPacket      time.Time
	haveTime        bool
	nextHealth      time.Time
}

// run is one worker: it owns a decoder, a flow table and dissectors. Only
// worker 0 publishes health (with the totals of every worker).
func (c *Component) run(ctx context.Context, src Source, worker int) error {
	reserveGCHeadroom(c.cfg.GCHeadroomMB)
	diss, err := dpi.NewDissectors(c.deps.Dissectors()...)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	p := &pipeline{c: c, ctx: ctx, worker: worker, decoder: NewDecoder(), diss: diss, iface: src.Name(),
		streams: streamSet{maxBuffer: c.cfg.StreamBuffer},
		defrag:  newDefragmenter(DefragConfig{MaxDatagrams: c.cfg.MaxFragmented, Timeout: c.cfg.FragmentTimeout}),
		gauges:  &workerGauges{}}
	p.table = NewFlowTable(c.cfg.flowTableConfig(), c.deps.Identifiers, p.emitFlow)
	p.table.finish = p.finishFlow
	c.workersMu.Lock()
	c.workers = append(c.workers, p.gauges)
	c.workersMu.Unlock()

	_, live := src.(LiveSource)
	log := c.deps.Logger.With("sensor", c.cfg.Name, "worker", worker)
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
		if errors.Is(err, ErrIdle) {
			p.idle(time.Now())
			n = 0 // check the context now
			continue
		}
		if err != nil {
			c.sourceErrors.Add(1)
			srcErrs = append(srcErrs, err)
			if live {
				break // a live interface that fails does not come back by itself
			}
			continue
		}
		p.packet(&pkt)
	}
	// Flush with a context that survives cancellation, so stopping a
	// sensor still reports every flow it held.
	p.ctx = context.WithoutCancel(ctx)
	p.table.Flush()
	if worker == 0 {
		p.health(true)
	}
	if f, ok := c.deps.Publisher.(Flusher); ok {
		if err := f.Flush(p.ctx); err != nil {
			c.publishErrors.Add(uint64(events.FailedEvents(err)))
			if p.firstPublishErr == nil {
				p.firstPublishErr = err
			}
		}
	}
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
	if p.haveTime && ts.Before(p.lastPacket.Add(-timeJump)) {
		// Capture time went back (files out of order, a clock reset):
		// the flows held cannot continue across the jump. End them and
		// start the clock again rather than expire every new flow at once.
		c.timeJumps.Add(1)
		p.table.Flush()
		p.table.resetClock()
		p.defrag = newDefragmenter(p.defrag.cfg)
		p.haveTime = false
	}
	if !p.haveTime {
		p.haveTime = true
		p.nextHealth = ts.Truncate(c.cfg.HealthInterval).Add(c.cfg.HealthInterval)
		p.lastPacket = ts
	}
	p.tick(ts)
	if ts.After(p.lastPacket) {
		p.lastPacket = ts
	}

	res := p.decoder.Decode(pkt.LinkType, pkt.Data, pkt.Info, &p.dec)
	if p.dec.VLAN == 0 && pkt.VLAN != 0 {
		p.dec.VLAN = pkt.VLAN
	}
	switch res {
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
	p.gauges.activeFlows.set(uint64(p.table.Len()))
	p.gauges.evictions.set(p.table.Evictions())
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
		if p.streams.errors != 0 {
			c.dissectErrors.Add(p.streams.errors)
			p.streams.errors = 0
		}
		p.gauges.streamGaps.set(p.streams.gaps)
		p.gauges.streamOverflows.set(p.streams.overflows)
	}
	if len(p.out.Counters) > 0 {
		if f.app == nil {
			f.app = &appState{}
		}
		f.app.count(p.out.Counters)
	}
	p.publishOutput(p.dec.Time)
}

// timeJump is how far back capture time may go before the pipeline
// treats it as a discontinuity rather than reordering.
const timeJump = time.Minute

// tick runs the timers due at time now: flow expiry and, on worker 0,
// the periodic health report.
func (p *pipeline) tick(now time.Time) {
	if now.Before(p.nextHealth) {
		return
	}
	interval := p.c.cfg.HealthInterval
	boundary := now.Truncate(interval)
	p.table.Advance(boundary)
	if p.worker == 0 {
		p.healthAt(boundary, false)
	}
	p.nextHealth = boundary.Add(interval)
}

// idle is called when a live source had no packet for a poll interval:
// the wall clock stands in for packet time, so flows still expire and a
// silent mirror port is reported.
func (p *pipeline) idle(now time.Time) {
	if !p.haveTime {
		p.haveTime = true
		p.lastPacket = now
		p.nextHealth = now.Truncate(p.c.cfg.HealthInterval).Add(p.c.cfg.HealthInterval)
		return
	}
	p.table.Advance(now)
	p.tick(now)
}

// reassemble feeds a fragment to the defragmenter; when it completes a
// datagram, p.dec becomes the whole datagram (with the link-layer facts
// of the last fragment) and reassemble returns true.
func (p *pipeline) reassemble(pkt *Packet) bool {
	c := p.c
	whole := p.defrag.add(&p.dec)
	st := p.defrag.stats
	p.gauges.fragments.Store(st.Fragments)
	p.gauges.reassembled.Store(st.Reassembled)
	p.gauges.fragmentsDropped.Store(st.Dropped)
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
		publishEvent(p, at, o)
	}
	for _, a := range p.out.Auths {
		c.auths.Add(1)
		publishEvent(p, at, a)
	}
}

func (p *pipeline) emitFlow(f events.Flow) {
	at := f.Last
	if f.Phase == events.FlowStart {
		at = f.Start
	} else if f.Phase == events.FlowEnd {
		p.c.flows.Add(1)
	}
	publishEvent(p, at, f)
}

// publishEvent publishes one of the sensor's events: encoded, to a
// publisher that takes it so, else as a Message.
func publishEvent[B events.Body](p *pipeline, at time.Time, body B) {
	ev := events.MustEvent(at, p.c.source, body)
	ep, ok := p.c.deps.Publisher.(EncodedPublisher)
	if !ok {
		p.publish(ev)
		return
	}
	payload, err := ev.Encode()
	if err == nil {
		err = ep.PublishEncoded(p.ctx, ev.Header, ev.DeviceHash(), payload)
	}
	p.published(err)
}

func (p *pipeline) publish(m events.Message) {
	p.published(p.c.deps.Publisher.Publish(p.ctx, m))
}

// published counts a publish's error (a batch sent by the call may have
// held many events).
func (p *pipeline) published(err error) {
	if err != nil {
		p.c.publishErrors.Add(uint64(events.FailedEvents(err)))
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
	p.gauges.activeFlows.set(uint64(p.table.Len()))
	p.gauges.evictions.set(p.table.Evictions())
	st := c.Stats()
	h := events.Health{
		Sensor: c.cfg.Name, Interface: p.iface, IntervalMS: c.cfg.HealthInterval.Milliseconds(),
		Packets: c.packets.Load(), Bytes: c.bytes.Load(),
		DecodeErrors: c.decodeErrors.Load(), Truncated: c.truncated.Load(),
		ActiveFlows: st.ActiveFlows, FlowEvictions: st.Evictions, KernelDrops: st.KernelDrops,
		PublishErrors: c.publishErrors.Load(),
		Final:         final,
	}
	if c.cfg.SilentAfter > 0 {
		h.SilentAfterMS = c.cfg.SilentAfter.Milliseconds()
		h.Silent = p.haveTime && at.Sub(p.lastPacket) >= c.cfg.SilentAfter
	}
	publishEvent(p, at, h)
}
