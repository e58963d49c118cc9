package capture

import (
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/zeebo/xxh3"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// FlowTableConfig holds the flow table's settings; Configuration carries
// the same values under YAML names.
type FlowTableConfig struct {
	// Inactivity timeouts per transport, Zeek's defaults: tcp 5m, udp 1m,
	// icmp (and other IP protocols) 1m.
	TCPTimeout, UDPTimeout, ICMPTimeout time.Duration
	// TCPLinger is how long a TCP flow stays after its close completed
	// (FIN exchange or RST), so late ACKs still count (Zeek's
	// tcp_close_delay, 5s).
	TCPLinger time.Duration
	// TCPAttemptTimeout ends an unanswered SYN (Zeek's tcp_attempt_delay,
	// 5s); a later SYN starts a new flow.
	TCPAttemptTimeout time.Duration
	// ActiveTimeout makes a long flow report an update every interval; 0
	// disables updates.
	ActiveTimeout time.Duration
	// MaxFlows bounds the table; when full, the flow idle the longest is
	// ended early and counted as an eviction.
	MaxFlows int
	// EmitStart emits a start event for each new flow.
	EmitStart bool
	// DPIPackets is how many payload packets per direction are offered to
	// the protocol identifiers.
	DPIPackets int
	// FlipSynAck makes the receiver of a flow's first packet the
	// originator when that packet is a SYN-ACK (the SYN was missed).
	// Zeek does not flip these (it fears stealth scans); Vigil does by
	// default so that the server side of such flows is right.
	FlipSynAck bool
	// ServerPorts are ports that likely belong to a server: a flow first
	// seen mid-stream from such a port is flipped, as Zeek does.
	ServerPorts []uint16
}

// flowKey is direction-independent: (a, pa) is the smaller endpoint. It
// holds no pointer (netip.Addr holds one), so the collector never scans
// it, and it is built and hashed from machine words: the byte arrays of
// netip's As16, copied as 16-byte blocks after 8-byte stores, stalled the
// processor on every packet (store-to-load forwarding failures, 8% of the
// sensor's time with the map's hash).
type flowKey struct {
	a, b        [2]uint64 // the addresses' 16-byte forms, big-endian words
	pa, pb      uint16
	vlan, inner uint16
	proto       uint8
	// v4 has bit 0 set when a is an IPv4 address and bit 1 when b is:
	// netip tells 1.2.3.4 from ::ffff:1.2.3.4, so does the key. Frames
	// give addresses without zones.
	v4 uint8
}

// equal is k == *o field by field: the compiler's == compares the key's
// 42 bytes with 16-byte loads, which stall on a key just written in
// 8-byte and smaller pieces (store-to-load forwarding fails).
func (k *flowKey) equal(o *flowKey) bool {
	return k.a[0] == o.a[0] && k.a[1] == o.a[1] && k.b[0] == o.b[0] && k.b[1] == o.b[1] &&
		k.pa == o.pa && k.pb == o.pb && k.vlan == o.vlan && k.inner == o.inner && k.proto == o.proto && k.v4 == o.v4
}

// addrWords returns a's 16-byte form (IPv4 mapped into IPv6) as two
// big-endian words, and whether a is IPv4.
func addrWords(a netip.Addr) (hi, lo uint64, is4 bool) {
	if a.Is4() {
		a4 := a.As4()
		return 0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(a4[:])), true
	}
	a16 := a.As16()
	return binary.BigEndian.Uint64(a16[:8]), binary.BigEndian.Uint64(a16[8:]), false
}

func (k *flowKey) addrA() netip.Addr { return keyAddr(k.a, k.v4&1 != 0) }
func (k *flowKey) addrB() netip.Addr { return keyAddr(k.b, k.v4&2 != 0) }

func keyAddr(w [2]uint64, is4 bool) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], w[0])
	binary.BigEndian.PutUint64(b[8:], w[1])
	a := netip.AddrFrom16(b)
	if is4 {
		return a.Unmap()
	}
	return a
}

// flowIndex finds flows by key: open addressing with linear probing over
// a power-of-two array of slots, each holding a flow and its key's hash,
// so a probe compares keys only when the hashes are equal. A removal
// shifts the slots after it back instead of leaving a tombstone, so
// lookups never slow down with churn. It holds at most 3/4 of its slots
// and doubles when full; like a Go map it does not shrink (max_flows
// bounds it).
//
// The hash is keyed with random secrets drawn per table, as Go's maps
// seed theirs: without them, crafted 5-tuples whose hashes collide would
// make every lookup a scan of the table (a denial of service on the
// sensor). It mixes the key's words with those secrets by 64x64->128-bit
// multiplication, the construction of wyhash, which is Go's own map hash
// where the processor has no AES instructions.
type flowIndex struct {
	secret [6]uint64
	slots  []flowSlot
	n      int
}

type flowSlot struct {
	hash uint64
	f    *flow // nil: empty
}

// flowIndexMin is the initial number of slots.
const flowIndexMin = 64

func newFlowIndex() flowIndex {
	x := flowIndex{slots: make([]flowSlot, flowIndexMin)}
	for i := range x.secret {
		// math/rand/v2's global source: ChaCha8, seeded by the runtime
		// from the system's entropy, so not predictable from outside.
		x.secret[i] = rand.Uint64()
	}
	return x
}

// hash is the key's hash under the table's secrets.
func (x *flowIndex) hash(k *flowKey) uint64 {
	return x.hashWords(k.a[0], k.a[1], k.b[0], k.b[1], keyPorts(k.pa, k.pb, k.vlan, k.inner), uint64(k.proto)<<32|uint64(k.v4))
}

// keyPorts packs a key's ports and VLANs into one word for the hash.
func keyPorts(pa, pb, vlan, inner uint16) uint64 {
	return uint64(pa)<<48 | uint64(pb)<<32 | uint64(vlan)<<16 | uint64(inner)
}

// hashWords is hash of a key given as words (addresses, keyPorts, and
// the protocol above the IPv4 flags), so that Packet hashes the values it
// holds in registers: reading back a key just written field by field
// stalls on the wider loads the compiler merges the reads into
// (store-to-load forwarding fails). Each stage folds two more words into
// the state, as wyhash does.
func (x *flowIndex) hashWords(ah, al, bh, bl, ports, pv uint64) uint64 {
	s := &x.secret
	h := mum(ah^s[0], al^s[1])
	h = mum(h^bh^s[2], bl^s[3])
	return mum(h^ports^s[4], pv^s[5])
}

// mum folds the 128-bit product of a and b into 64 bits.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// get returns the flow of key k (whose hash is h), or nil.
func (x *flowIndex) get(k *flowKey, h uint64) *flow {
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.f == nil {
			return nil
		}
		if s.hash == h && s.f.key.equal(k) {
			return s.f
		}
	}
}

// add inserts f, whose key (of hash h) is not in the index.
func (x *flowIndex) add(f *flow, h uint64) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	x.place(f, h)
	x.n++
}

func (x *flowIndex) place(f *flow, h uint64) {
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i].f != nil {
		i = (i + 1) & mask
	}
	x.slots[i] = flowSlot{hash: h, f: f}
}

func (x *flowIndex) grow() {
	old := x.slots
	x.slots = make([]flowSlot, 2*len(old))
	for _, s := range old {
		if s.f != nil {
			x.place(s.f, s.hash)
		}
	}
}

// remove takes f out of the index; a flow that is not in it is left
// alone.
func (x *flowIndex) remove(f *flow) {
	mask := uint64(len(x.slots) - 1)
	i := x.hash(&f.key) & mask
	for x.slots[i].f != f {
		if x.slots[i].f == nil {
			return
		}
		i = (i + 1) & mask
	}
	x.n--
	// Shift back each following slot of the run that may move into the
	// hole: one whose home (its hash's slot) is not cyclically within
	// (hole, slot].
	for j := (i + 1) & mask; x.slots[j].f != nil; j = (j + 1) & mask {
		home := x.slots[j].hash & mask
		if (j-home)&mask >= (j-i)&mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = flowSlot{}
}

// all appends every flow to fs, in slot order.
func (x *flowIndex) all(fs []*flow) []*flow {
	for _, s := range x.slots {
		if s.f != nil {
			fs = append(fs, s.f)
		}
	}
	return fs
}

// Lists of flows by expiry rule; each flow is on exactly one.
const (
	listTCP = iota
	listAttempt
	listClosing
	listUDP
	listICMP
	numLists
)

type flow struct {
	key flowKey
	id  string

	// origB tells which side of the key the originator is (a or b): the
	// key holds both addresses, so the flow does not hold them again
	// (two netip.Addr are 48 bytes, and pointers for the collector).
	origB              bool
	origPort, respPort uint16
	origMAC, respMAC   [6]byte
	origHasMAC         bool
	respHasMAC         bool

	start, last time.Time
	// ref is the time the flow's expiry list measures from.
	ref        time.Time
	nextUpdate time.Time
	dirty      bool // packets since the last event

	pkts, ipBytes, payload [2]uint64

	tcp     tcpConn
	history []byte
	udpSeen [2]bool

	appProto string
	dpiSeen  [2]uint8
	// app is the dissectors' state and counters, for flows that have any.
	app *appState

	list  int // expiry list
	links [numLinks]flowLinks
}

// A flow is threaded through two intrusive lists: the expiry list of its
// state and, with an active timeout, the update list.
const (
	linkExpiry = iota
	linkUpdate
	numLinks
)

type flowLinks struct{ prev, next *flow }

// flowList is an intrusive doubly linked list of flows through their
// links[link].
type flowList struct {
	head, tail *flow
	link       int
}

func (l *flowList) pushBack(f *flow) {
	k := l.link
	f.links[k] = flowLinks{prev: l.tail}
	if l.tail != nil {
		l.tail.links[k].next = f
	} else {
		l.head = f
	}
	l.tail = f
}

// remove takes f off the list; a flow that is not on it is left alone.
func (l *flowList) remove(f *flow) {
	k := l.link
	lk := &f.links[k]
	switch {
	case lk.prev != nil:
		lk.prev.links[k].next = lk.next
	case l.head == f:
		l.head = lk.next
	default:
		return
	}
	if lk.next != nil {
		lk.next.links[k].prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	*lk = flowLinks{}
}

// FlowInfo tells the caller of Packet which flow a packet belongs to.
type FlowInfo struct {
	ID       string
	AppProto string
	FromOrig bool
	// Dir is 0 when the packet came from the originator, 1 otherwise.
	Dir  int
	flow *flow
}

// FlowTable tracks bidirectional flows by VLAN and 5-tuple, on packet
// time only: replaying a capture gives the same events. It is not safe for
// concurrent use; each worker owns one.
type FlowTable struct {
	cfg     FlowTableConfig
	flows   flowIndex
	lists   [numLists]flowList // linked through linkExpiry
	updates flowList           // linked through linkUpdate
	timeout [numLists]time.Duration
	servers [65536 / 64]uint64
	ident   *dpi.Identifiers
	emit    func(events.Flow)
	// finish, when set, is called for a flow with dissector state just
	// before its end event, so the dissectors can report their last facts.
	finish func(*flow)
	now    time.Time
	// nextDue is no later than the earliest expiry or update the lists'
	// heads call for: until then Advance, which runs on every packet, has
	// nothing to look at and returns at once instead of walking every list
	// head. A push onto a list and a removal that gives a list a new head
	// lower it to that flow's time; Advance sets it exactly when it has
	// done its work (TestAdvanceDueShortcut).
	nextDue time.Time

	evictions uint64
	// free holds ended flows, reset, for reuse (recycle).
	free   []*flow
	dpiPkt dpi.Packet
	// text remembers the strings of flow events (eventtext.go).
	text eventText
}

// NewFlowTable returns an empty table that reports flows to emit and
// names application protocols with ident (nil disables identification).
func NewFlowTable(cfg FlowTableConfig, ident *dpi.Identifiers, emit func(events.Flow)) *FlowTable {
	t := &FlowTable{cfg: cfg, flows: newFlowIndex(), ident: ident, emit: emit}
	t.updates.link = linkUpdate
	t.timeout = [numLists]time.Duration{
		listTCP: cfg.TCPTimeout, listAttempt: cfg.TCPAttemptTimeout, listClosing: cfg.TCPLinger,
		listUDP: cfg.UDPTimeout, listICMP: cfg.ICMPTimeout,
	}
	for _, p := range cfg.ServerPorts {
		t.servers[p/64] |= 1 << (p % 64)
	}
	return t
}

// Len is the number of flows in the table.
func (t *FlowTable) Len() int { return t.flows.n }

// Evictions is the number of flows ended early because the table was full.
func (t *FlowTable) Evictions() uint64 { return t.evictions }

func (t *FlowTable) likelyServer(p uint16) bool { return t.servers[p/64]&(1<<(p%64)) != 0 }

// Advance expires flows whose time has come at packet time now. Time
// never goes backwards: an older timestamp leaves the clock as it is.
func (t *FlowTable) Advance(now time.Time) {
	if now.After(t.now) {
		t.now = now
	}
	if t.now.Before(t.nextDue) {
		return
	}
	for {
		var due *flow
		var dueAt, next time.Time // next: the earliest time not yet due
		for i := range t.lists {
			f := t.lists[i].head
			if f == nil {
				continue
			}
			at := f.ref.Add(t.timeout[i])
			if at.After(t.now) {
				if next.IsZero() || at.Before(next) {
					next = at
				}
				continue
			}
			if due == nil || at.Before(dueAt) {
				due, dueAt = f, at
			}
		}
		u := t.updates.head
		if u != nil && !u.nextUpdate.After(t.now) && (due == nil || u.nextUpdate.Before(dueAt)) {
			t.update(u)
			continue
		}
		if due == nil {
			if u != nil && (next.IsZero() || u.nextUpdate.Before(next)) {
				next = u.nextUpdate
			}
			// Nothing is due before next; with every list empty, nothing
			// is due until a flow is pushed (noteDue).
			t.nextDue = next
			if next.IsZero() {
				t.nextDue = maxTime
			}
			return
		}
		t.end(due)
	}
}

// maxTime is later than any packet time.
var maxTime = time.Unix(1<<62, 0)

// unlist takes f off its expiry list. The lists are not in order of
// expiry (an attempt counts from the flow's start, and capture time can
// go back), so a new head may be due before nextDue: it lowers nextDue.
func (t *FlowTable) unlist(f *flow) {
	l := &t.lists[f.list]
	wasHead := l.head == f
	l.remove(f)
	if h := l.head; wasHead && h != nil {
		t.noteDue(h.ref.Add(t.timeout[f.list]))
	}
}

// unlistUpdate takes f off the update list, as unlist.
func (t *FlowTable) unlistUpdate(f *flow) {
	wasHead := t.updates.head == f
	t.updates.remove(f)
	if h := t.updates.head; wasHead && h != nil {
		t.noteDue(h.nextUpdate)
	}
}

// noteDue lowers nextDue to at, the time a flow just pushed onto a list
// expires or updates.
func (t *FlowTable) noteDue(at time.Time) {
	if at.Before(t.nextDue) {
		t.nextDue = at
	}
}

func (t *FlowTable) update(f *flow) {
	t.unlistUpdate(f)
	if f.dirty {
		t.emit(t.event(f, events.FlowUpdate))
		f.dirty = false
	}
	f.nextUpdate = f.nextUpdate.Add(t.cfg.ActiveTimeout)
	if !f.nextUpdate.After(t.now) {
		f.nextUpdate = t.now.Add(t.cfg.ActiveTimeout)
	}
	t.updates.pushBack(f)
	t.noteDue(f.nextUpdate)
}

func (t *FlowTable) end(f *flow) {
	t.unlist(f)
	t.unlistUpdate(f)
	t.flows.remove(f)
	if f.app != nil && t.finish != nil {
		t.finish(f)
	}
	t.emit(t.event(f, events.FlowEnd))
	t.recycle(f)
}

// maxFreeFlows bounds the ended flows kept for reuse.
const maxFreeFlows = 1024

// recycle keeps an ended flow for the next new one: a flow is 440 bytes
// with pointers, allocated, zeroed and later collected once per flow
// otherwise. Nothing refers to an ended flow any more (the index, the
// lists and the event no longer do; FlowInfo does not outlive the packet
// it was returned for).
func (t *FlowTable) recycle(f *flow) {
	if len(t.free) < maxFreeFlows {
		hist := f.history[:0]
		*f = flow{history: hist}
		t.free = append(t.free, f)
	}
}

// resetClock forgets the table's time, after a Flush, so that capture
// time that went back is taken as the new present.
func (t *FlowTable) resetClock() { t.now, t.nextDue = time.Time{}, time.Time{} }

// Flush ends every flow, in order of first packet then flow ID, as at the
// end of a capture.
func (t *FlowTable) Flush() {
	all := t.flows.all(make([]*flow, 0, t.flows.n))
	sort.Slice(all, func(i, j int) bool {
		if !all[i].start.Equal(all[j].start) {
			return all[i].start.Before(all[j].start)
		}
		return all[i].id < all[j].id
	})
	for _, f := range all {
		t.end(f)
	}
}

func (t *FlowTable) evictOne() {
	var victim *flow
	for i := range t.lists {
		if f := t.lists[i].head; f != nil && (victim == nil || f.last.Before(victim.last)) {
			victim = f
		}
	}
	if victim != nil {
		t.evictions++
		t.end(victim)
	}
}

// Packet accounts one decoded packet. It returns false for packets that
// belong to no flow (no IP, fragments without transport header).
func (t *FlowTable) Packet(d *Decoded) (FlowInfo, bool) {
	if d.IPVersion == 0 || !d.Src.IsValid() || !d.Dst.IsValid() {
		return FlowInfo{}, false
	}
	t.Advance(d.Time)

	proto := d.Protocol
	sport, dport := d.SrcPort, d.DstPort
	isICMP := proto == protoICMP || proto == protoICMPv6
	switch {
	case proto == protoTCP || proto == protoUDP:
		if !d.Transport {
			return FlowInfo{}, false // fragment: no ports to key on
		}
	case isICMP:
		if !d.Transport {
			return FlowInfo{}, false
		}
		sport, dport = icmpPorts(proto, d.ICMPType, d.ICMPCode)
	default:
		sport, dport = 0, 0
	}
	sh, sl, s4 := addrWords(d.Src)
	dh, dl, d4 := addrWords(d.Dst)
	ah, al, bh, bl, pa, pb, v4 := sh, sl, dh, dl, sport, dport, b2u8(s4)|b2u8(d4)<<1
	// The order of netip's Compare (IPv4 first, then by address; frames
	// give no zones), then by port.
	srcFirst := s4 != d4 && s4 || s4 == d4 && (sh < dh || sh == dh && (sl < dl || sl == dl && sport <= dport))
	if !srcFirst {
		ah, al, bh, bl, pa, pb, v4 = dh, dl, sh, sl, dport, sport, b2u8(d4)|b2u8(s4)<<1
	}
	h := t.flows.hashWords(ah, al, bh, bl, keyPorts(pa, pb, d.VLAN, d.InnerVLAN), uint64(proto)<<32|uint64(v4))
	// Word by word: a composite literal of the arrays is built in memory
	// and copied as one 16-byte block, the stall again.
	var key flowKey
	key.a[0], key.a[1], key.b[0], key.b[1] = ah, al, bh, bl
	key.pa, key.pb, key.vlan, key.inner, key.proto, key.v4 = pa, pb, d.VLAN, d.InnerVLAN, proto, v4
	f := t.flows.get(&key, h)
	if f != nil && proto == protoTCP && t.isReuse(f, d) {
		t.end(f)
		f = nil
	}
	created := f == nil
	if created {
		if t.cfg.MaxFlows > 0 && t.flows.n >= t.cfg.MaxFlows {
			t.evictOne()
		}
		f = t.newFlow(key, h, d, sport, dport, !srcFirst)
	}

	// The packet's source is the originator when it is the key's side
	// the originator is on, or when both sides are the same endpoint.
	dir := 1
	if srcFirst != f.origB || sh == dh && sl == dl && s4 == d4 && sport == dport {
		dir = 0
	}
	if dir == 0 && d.HasMAC && !f.origHasMAC {
		f.origMAC, f.origHasMAC = d.SrcMAC, true
	} else if dir == 1 && d.HasMAC && !f.respHasMAC {
		f.respMAC, f.respHasMAC = d.SrcMAC, true
	}
	if d.HasMAC && d.DstMAC != ([6]byte{}) {
		// The destination MAC of a packet is the other side's (or its
		// router's): learn it when that side has not spoken yet.
		if dir == 0 && !f.respHasMAC {
			f.respMAC = d.DstMAC
		} else if dir == 1 && !f.origHasMAC {
			f.origMAC = d.DstMAC
		}
	}
	f.pkts[dir]++
	f.ipBytes[dir] += uint64(d.IPLength)
	f.payload[dir] += uint64(d.PayloadLength)
	if d.Time.After(f.last) && !(f.tcp.ep[0].didClose && f.tcp.ep[1].didClose) {
		// Like Zeek, a TCP flow closed on both sides keeps its last time:
		// late ACKs count but do not stretch the duration.
		f.last = d.Time
	}
	f.dirty = true

	switch {
	case proto == protoTCP:
		dir = t.tcpPacket(f, d, dir)
	case proto == protoUDP:
		if !f.udpSeen[dir] {
			f.udpSeen[dir] = true
			f.history = append(f.history, "Dd"[dir])
		}
	}

	if f.appProto == "" && t.ident != nil && len(d.Payload) > 0 && int(f.dpiSeen[dir]) < t.cfg.DPIPackets {
		f.dpiSeen[dir]++
		d.dpiPacket(&t.dpiPkt, f.id, dir == 0)
		f.appProto = t.ident.Identify(&t.dpiPkt)
	}
	t.place(f)
	if created && t.cfg.EmitStart {
		t.emit(t.event(f, events.FlowStart))
		f.dirty = false
	}
	return FlowInfo{ID: f.id, AppProto: f.appProto, FromOrig: dir == 0, Dir: dir, flow: f}, true
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// place puts f on the expiry list its state calls for.
func (t *FlowTable) place(f *flow) {
	want := listICMP
	switch f.key.proto {
	case protoTCP:
		o, r := &f.tcp.ep[0], &f.tcp.ep[1]
		switch {
		case f.tcp.closeComplete:
			want = listClosing
		case (o.state == tcpSynSent || o.state == tcpSynAckSent) && r.state == tcpInactive:
			want = listAttempt
		default:
			want = listTCP
		}
	case protoUDP:
		want = listUDP
	}
	switch {
	case want == listClosing && f.list == listClosing:
		return // the linger counts from the close, not from later packets
	case want == listAttempt && f.list == listAttempt:
		return // the attempt timer counts from the first SYN
	case want == f.list && t.lists[want].tail == f:
		// Already last on its list, as after the flow's previous packet:
		// only its time moves, later, so nextDue stays a lower bound.
		f.ref = f.last
		return
	}
	t.unlist(f)
	f.list = want
	switch want {
	case listAttempt:
		f.ref = f.start
	default:
		f.ref = f.last
	}
	t.lists[want].pushBack(f)
	t.noteDue(f.ref.Add(t.timeout[want]))
}

// newFlow makes the flow of a first packet d, whose source is the key's
// side b when srcB.
func (t *FlowTable) newFlow(key flowKey, h uint64, d *Decoded, sport, dport uint16, srcB bool) *flow {
	var f *flow
	if n := len(t.free); n > 0 {
		f, t.free = t.free[n-1], t.free[:n-1]
	} else {
		f = &flow{}
	}
	f.key, f.start, f.last, f.list = key, d.Time, d.Time, listICMP
	f.origB, f.origPort, f.respPort = srcB, sport, dport
	flip := false
	switch key.proto {
	case protoTCP:
		syn, ack := d.TCPFlags&tcpSYN != 0, d.TCPFlags&tcpACK != 0
		switch {
		case syn && ack:
			// A SYN-ACK first: the SYN was missed, its sender is the server.
			flip = t.cfg.FlipSynAck
		case !syn:
			// Mid-stream: guess the server by its port, as Zeek does.
			if t.likelyServer(sport) {
				if t.likelyServer(dport) {
					flip = sport < dport
				} else {
					flip = true
				}
			}
		}
	case protoUDP:
		// A broadcast or multicast destination never originates.
		flip = t.likelyServer(sport) && !t.likelyServer(dport) &&
			!d.Dst.IsMulticast() && d.Dst != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	if flip {
		f.flipRoles()
	}
	f.id = flowID(&f.key, f.origB, d.Time)
	t.flows.add(f, h)
	// Not on an expiry list yet: Packet places it (place) once its first
	// packet is accounted.
	if t.cfg.ActiveTimeout > 0 {
		f.nextUpdate = d.Time.Add(t.cfg.ActiveTimeout)
		t.updates.pushBack(f)
		t.noteDue(f.nextUpdate)
	}
	return f
}

// origAddr and respAddr are the originator's and the responder's
// addresses.
func (f *flow) origAddr() netip.Addr {
	if f.origB {
		return f.key.addrB()
	}
	return f.key.addrA()
}

func (f *flow) respAddr() netip.Addr {
	if f.origB {
		return f.key.addrA()
	}
	return f.key.addrB()
}

// flipRoles swaps originator and responder, with everything counted per
// direction, and records it in the history.
func (f *flow) flipRoles() {
	f.origB = !f.origB
	f.origPort, f.respPort = f.respPort, f.origPort
	f.origMAC, f.respMAC = f.respMAC, f.origMAC
	f.origHasMAC, f.respHasMAC = f.respHasMAC, f.origHasMAC
	f.pkts[0], f.pkts[1] = f.pkts[1], f.pkts[0]
	f.ipBytes[0], f.ipBytes[1] = f.ipBytes[1], f.ipBytes[0]
	f.payload[0], f.payload[1] = f.payload[1], f.payload[0]
	f.dpiSeen[0], f.dpiSeen[1] = f.dpiSeen[1], f.dpiSeen[0]
	f.tcp.ep[0], f.tcp.ep[1] = f.tcp.ep[1], f.tcp.ep[0]
	f.history = append(f.history, '^')
}

// dpiPacket fills p with the view of d that identifiers and dissectors
// get.
func (d *Decoded) dpiPacket(p *dpi.Packet, flowID string, fromOrig bool) {
	// Field by field, as in decodeFast: no write barrier over the whole
	// struct while a collection is marking.
	p.Time, p.Transport, p.Src, p.Dst, p.SrcPort, p.DstPort = d.Time, d.Protocol, d.Src, d.Dst, d.SrcPort, d.DstPort
	p.HasMAC, p.SrcMAC, p.DstMAC, p.VLAN = d.HasMAC, d.SrcMAC, d.DstMAC, d.VLAN
	p.FromOrig, p.FlowID, p.Payload = fromOrig, flowID, d.Payload
}

// flowID hashes the VLANs, the 5-tuple oriented by originator and the first
// packet time.
func flowID(k *flowKey, origB bool, start time.Time) string {
	var buf [96]byte
	b := buf[:0]
	b = binary.BigEndian.AppendUint16(b, k.vlan)
	b = binary.BigEndian.AppendUint16(b, k.inner)
	b = append(b, k.proto)
	// The originator's and the responder's 16-byte addresses, from the
	// key's words.
	o, op, r, rp := k.a, k.pa, k.b, k.pb
	if origB {
		o, op, r, rp = k.b, k.pb, k.a, k.pa
	}
	b = binary.BigEndian.AppendUint64(b, o[0])
	b = binary.BigEndian.AppendUint64(b, o[1])
	b = binary.BigEndian.AppendUint16(b, op)
	b = binary.BigEndian.AppendUint64(b, r[0])
	b = binary.BigEndian.AppendUint64(b, r[1])
	b = binary.BigEndian.AppendUint16(b, rp)
	b = binary.BigEndian.AppendUint64(b, uint64(start.UnixNano()))
	// XXH3-128, as event IDs: a flow ID names a flow, it signs nothing,
	// and SHA-256 here was 2% of the sensor's time.
	sum := xxh3.Hash128(b).Bytes()
	return hex.EncodeToString(sum[:])
}

// icmpPorts maps an ICMP message to Zeek's pseudo ports: the type, and
// the counterpart type for request/reply pairs (so both map to one flow)
// or the code for one-way messages.
func icmpPorts(proto, typ, code uint8) (uint16, uint16) {
	if proto == protoICMP {
		switch typ {
		case 8:
			return 8, 0
		case 0:
			return 0, 8
		case 13:
			return 13, 14
		case 14:
			return 14, 13
		case 15:
			return 15, 16
		case 16:
			return 16, 15
		case 17:
			return 17, 18
		case 18:
			return 18, 17
		case 10:
			return 10, 9
		case 9:
			return 9, 10
		}
		return uint16(typ), uint16(code)
	}
	switch typ {
	case 128:
		return 128, 129
	case 129:
		return 129, 128
	case 133:
		return 133, 134
	case 134:
		return 134, 133
	case 135:
		return 135, 136
	case 136:
		return 136, 135
	case 130:
		return 130, 131
	case 131:
		return 131, 130
	case 139:
		return 139, 140
	case 140:
		return 140, 139
	case 144:
		return 144, 145
	case 145:
		return 145, 144
	case 146:
		return 146, 147
	case 147:
		return 147, 146
	}
	return uint16(typ), uint16(code)
}

// event builds the event of f. Its result is named so that the event is
// built in place, not in a local copied out (as pcapReader's results).
func (t *FlowTable) event(f *flow, phase events.FlowPhase) (ev events.Flow) {
	ev = events.Flow{
		FlowID: f.id, Phase: phase, Start: f.start, Last: f.last,
		DurationMS: f.last.Sub(f.start).Milliseconds(),
		Transport:  transportName(f.key.proto),
		Orig:       events.Endpoint{IP: t.text.ip(f.origAddr()), Port: f.origPort},
		Resp:       events.Endpoint{IP: t.text.ip(f.respAddr()), Port: f.respPort},
		VLAN:       f.key.vlan, InnerVLAN: f.key.inner,
		OrigPackets: f.pkts[0], RespPackets: f.pkts[1],
		OrigBytes: f.ipBytes[0], RespBytes: f.ipBytes[1],
		OrigPayload: f.payload[0], RespPayload: f.payload[1],
		History:  t.text.history(f.history),
		AppProto: f.appProto,
		App:      f.app.counterSnapshot(),
	}
	if f.origHasMAC || f.origMAC != ([6]byte{}) {
		ev.Orig.MAC = t.text.mac(f.origMAC)
	}
	if f.respHasMAC || f.respMAC != ([6]byte{}) {
		ev.Resp.MAC = t.text.mac(f.respMAC)
	}
	if f.key.proto == protoTCP {
		ev.State = f.tcp.connState(f.history, f.payload[0], f.payload[1])
	}
	return ev
}

func transportName(p uint8) string {
	switch p {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoICMP:
		return "icmp"
	case protoICMPv6:
		return "icmp6"
	}
	return "ip-" + strconv.Itoa(int(p))
}
