//go:build linux

// Package nft is the nftables enforcement point: Vigil's own table in the
// inet family, one set per kind of scope and address family, and drop
// rules that look packets up in those sets. It talks netlink
// (github.com/google/nftables), in a given network namespace when
// configured, and never touches another table.
//
// Every element carries the block's request ID as its comment, so Actual
// reads Vigil's blocks back from the kernel; an element without one (added
// by hand into Vigil's table) is reported under an "unlabelled:" ID, and
// the reconciler removes it as drift.
package nft

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
)

var _ enforce.Backend = (*Backend)(nil)

// Set names: a(ddress), p(air), s(ervice), f(low) per family, m(ac).
const (
	setA4, setA6 = "a4", "a6"
	setP4, setP6 = "p4", "p6"
	setS4, setS6 = "s4", "s6"
	setF4, setF6 = "f4", "f6"
	setM         = "mac"
	chainBlock   = "block"
)

// Netlink limits: a nested attribute holds at most 64 KiB and a batch
// must fit the socket's send buffer, so elements go in chunks.
const (
	elemsPerMessage = 256
	elemsPerBatch   = 2048
)

type setSpec struct {
	name string
	key  nftables.SetDatatype
	v6   bool
}

var setSpecs = []setSpec{
	{setA4, nftables.TypeIPAddr, false},
	{setA6, nftables.TypeIP6Addr, true},
	{setP4, nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr), false},
	{setP6, nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeIP6Addr), true},
	{setS4, nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService), false},
	{setS6, nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetProto, nftables.TypeInetService), true},
	{setF4, nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService), false},
	{setF6, nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeIP6Addr, nftables.TypeInetProto, nftables.TypeInetService), true},
	{setM, nftables.TypeEtherAddr, false},
}

// Backend is the nftables enforcement point.
type Backend struct {
	cfg enforce.NFTablesConfiguration
	now func() time.Time
	// mu serialises netlink work: Actual and Apply from the reconciler,
	// Plan from the API.
	mu sync.Mutex
}

// New returns the backend; it opens nothing until used.
func New(cfg enforce.NFTablesConfiguration, now func() time.Time) (*Backend, error) {
	if cfg.Table == "" {
		return nil, errors.New("nftables: no table name")
	}
	if now == nil {
		now = time.Now
	}
	return &Backend{cfg: cfg, now: now}, nil
}

// Name implements enforce.Backend.
func (b *Backend) Name() string { return "nftables" }

// Supports implements enforce.Backend: every scope kind, ports with tcp,
// udp, sctp or both tcp and udp.
func (b *Backend) Supports(s events.BlockScope) bool {
	if enforce.ScopeKind(s) == "" {
		return false
	}
	_, err := elements(s)
	return err == nil
}

// conn opens one netlink socket for a whole Actual or Apply (a pass makes
// some thirty requests; a socket each would dominate its time).
func (b *Backend) conn() (*nftables.Conn, func(), error) {
	if b.cfg.NetNS == "" {
		c, err := nftables.New(nftables.AsLasting())
		if err != nil {
			return nil, nil, fmt.Errorf("nftables: %w", err)
		}
		return c, func() { _ = c.CloseLasting() }, nil
	}
	fd, err := unix.Open(b.cfg.NetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open network namespace %s: %w", b.cfg.NetNS, err)
	}
	c, err := nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(fd))
	if err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("nftables in %s: %w", b.cfg.NetNS, err)
	}
	return c, func() { _ = c.CloseLasting(); unix.Close(fd) }, nil
}

func (b *Backend) table() *nftables.Table {
	return &nftables.Table{Name: b.cfg.Table, Family: nftables.TableFamilyINet}
}

// Actual implements enforce.Backend. When Vigil's table, one of its sets,
// chains or rules is missing or altered, nothing is enforced reliably:
// Actual then reports no entry, so every block is re-applied (and
// reported as drift) after Apply rebuilt the table.
func (b *Backend) Actual(ctx context.Context) ([]enforce.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, done, err := b.conn()
	if err != nil {
		return nil, err
	}
	defer done()
	ok, err := b.intact(c)
	if err != nil || !ok {
		return nil, err
	}
	cur, err := b.read(c)
	if err != nil {
		return nil, err
	}
	return entries(cur), ctx.Err()
}

// element is one set element as Vigil writes it.
type element struct {
	set string
	key []byte
	id  string
}

// read returns every element of Vigil's sets by set and key.
func (b *Backend) read(c *nftables.Conn) (map[string]map[string]element, error) {
	t := b.table()
	out := map[string]map[string]element{}
	for _, sp := range setSpecs {
		set := &nftables.Set{Table: t, Name: sp.name, KeyType: sp.key}
		elems, err := c.GetSetElements(set)
		if err != nil {
			return nil, fmt.Errorf("read set %s: %w", sp.name, err)
		}
		m := make(map[string]element, len(elems))
		for _, e := range elems {
			m[string(e.Key)] = element{set: sp.name, key: e.Key, id: e.Comment}
		}
		out[sp.name] = m
	}
	return out, nil
}

// entries groups elements back into entries by their ID.
func entries(cur map[string]map[string]element) []enforce.Entry {
	byID := map[string][]events.BlockScope{}
	var order []string
	for _, sp := range setSpecs {
		for _, e := range cur[sp.name] {
			scope, err := decode(sp.name, e.key)
			id := e.id
			if err != nil || id == "" || !strings.HasPrefix(id, "req-") {
				// Not written by Vigil: its own entry, so it is removed.
				id = "unlabelled:" + sp.name + ":" + fmt.Sprintf("%x", e.key)
			}
			if err != nil {
				continue
			}
			if _, ok := byID[id]; !ok {
				order = append(order, id)
			}
			byID[id] = append(byID[id], scope)
		}
	}
	sort.Strings(order)
	out := make([]enforce.Entry, 0, len(order))
	for _, id := range order {
		scopes := byID[id]
		s := scopes[0]
		// A port without transport is written as a tcp and a udp element.
		if len(scopes) == 2 {
			x, y := scopes[0], scopes[1]
			tx, ty := x.Transport, y.Transport
			x.Transport, y.Transport = "", ""
			if x == y && x.Port != 0 && ((tx == "tcp" && ty == "udp") || (tx == "udp" && ty == "tcp")) {
				s = x
			}
		}
		out = append(out, enforce.Entry{ID: id, Scope: s})
	}
	return out
}

// Apply implements enforce.Backend: removals first, then additions, in
// batches. An element already present with the same ID is left alone; one
// present under another ID is replaced. Removing an element already gone
// is not an error.
func (b *Backend) Apply(ctx context.Context, add, remove []enforce.Entry) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, done, err := b.conn()
	if err != nil {
		return err
	}
	defer done()
	ok, err := b.intact(c)
	if err != nil {
		return err
	}
	if !ok {
		if err := b.build(c); err != nil {
			return err
		}
	}
	cur, err := b.read(c)
	if err != nil {
		return err
	}
	var dels, adds []element
	timeouts := map[string]time.Duration{}
	for _, e := range remove {
		els, err := elementsOf(e)
		if err != nil {
			continue // nothing Vigil could have written
		}
		for _, el := range els {
			if _, there := cur[el.set][string(el.key)]; there {
				dels = append(dels, el)
				delete(cur[el.set], string(el.key))
			}
		}
	}
	now := b.now()
	for _, e := range add {
		els, err := elementsOf(e)
		if err != nil {
			return fmt.Errorf("nftables cannot enforce %s: %w", e.ID, err)
		}
		for _, el := range els {
			if have, there := cur[el.set][string(el.key)]; there {
				if have.id == el.id {
					continue
				}
				dels = append(dels, have)
			}
			adds = append(adds, el)
			if b.cfg.TimeoutGrace > 0 {
				timeouts[el.id] = max(e.Expires.Sub(now), 0) + b.cfg.TimeoutGrace
				if e.Expires.IsZero() {
					timeouts[el.id] = 0
				}
			}
		}
	}
	if err := b.send(c, dels, nil, false); err != nil {
		return fmt.Errorf("nftables remove: %w", err)
	}
	if err := b.send(c, adds, timeouts, true); err != nil {
		return fmt.Errorf("nftables add: %w", err)
	}
	return ctx.Err()
}

// send writes elements in chunks, one batch per elemsPerBatch.
func (b *Backend) send(c *nftables.Conn, els []element, timeouts map[string]time.Duration, add bool) error {
	t := b.table()
	sets := map[string]*nftables.Set{}
	for _, sp := range setSpecs {
		sets[sp.name] = &nftables.Set{Table: t, Name: sp.name, KeyType: sp.key, HasTimeout: b.cfg.TimeoutGrace > 0, Concatenation: strings.Contains(sp.key.Name, " . ")}
	}
	slices.SortStableFunc(els, func(x, y element) int { return strings.Compare(x.set, y.set) })
	for start := 0; start < len(els); start += elemsPerBatch {
		batch := els[start:min(start+elemsPerBatch, len(els))]
		for i := 0; i < len(batch); {
			j := i
			for j < len(batch) && j-i < elemsPerMessage && batch[j].set == batch[i].set {
				j++
			}
			vals := make([]nftables.SetElement, 0, j-i)
			for _, el := range batch[i:j] {
				v := nftables.SetElement{Key: el.key}
				if add {
					v.Comment, v.Timeout = el.id, timeouts[el.id]
				}
				vals = append(vals, v)
			}
			var err error
			if add {
				err = c.SetAddElements(sets[batch[i].set], vals)
			} else {
				err = c.SetDeleteElements(sets[batch[i].set], vals)
			}
			if err != nil {
				return err
			}
			i = j
		}
		if err := c.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes Vigil's table and everything in it (for `vigil enforce`
// maintenance and tests); other tables are untouched.
func (b *Backend) Remove() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, done, err := b.conn()
	if err != nil {
		return err
	}
	defer done()
	if ok, _ := b.exists(c); !ok {
		return nil
	}
	c.DelTable(b.table())
	return c.Flush()
}

func (b *Backend) exists(c *nftables.Conn) (bool, error) {
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	return slices.ContainsFunc(ts, func(t *nftables.Table) bool { return t.Name == b.cfg.Table }), nil
}

// intact reports whether Vigil's table holds its sets, chains and rules
// as Vigil built them.
func (b *Backend) intact(c *nftables.Conn) (bool, error) {
	if ok, err := b.exists(c); err != nil || !ok {
		return false, err
	}
	t := b.table()
	sets, err := c.GetSets(t)
	if err != nil {
		return false, fmt.Errorf("list sets of %s: %w", b.cfg.Table, err)
	}
	timeouts := b.cfg.TimeoutGrace > 0
	for _, sp := range setSpecs {
		// A set built with another timeout setting would refuse the
		// elements: rebuilt like a missing one.
		if !slices.ContainsFunc(sets, func(s *nftables.Set) bool { return s.Name == sp.name && s.HasTimeout == timeouts }) {
			return false, nil
		}
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("list chains: %w", err)
	}
	want := map[string]int{"input": 1, "forward": 1, "output": 1, chainBlock: len(blockRules(nil))}
	for _, ch := range chains {
		if ch.Table.Name != b.cfg.Table {
			continue
		}
		n, ok := want[ch.Name]
		if !ok {
			continue
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return false, fmt.Errorf("list rules of %s: %w", ch.Name, err)
		}
		if len(rules) != n {
			return false, nil
		}
		delete(want, ch.Name)
	}
	return len(want) == 0, nil
}

// build (re)creates Vigil's table: the sets, a chain of drop rules, and
// base chains on input, forward and output that jump to it (priority
// filter - 10, policy accept: Vigil only ever drops).
func (b *Backend) build(c *nftables.Conn) error {
	if ok, err := b.exists(c); err != nil {
		return err
	} else if ok {
		c.DelTable(b.table())
	}
	t := c.AddTable(b.table())
	sets := map[string]*nftables.Set{}
	for _, sp := range setSpecs {
		s := &nftables.Set{Table: t, Name: sp.name, KeyType: sp.key, HasTimeout: b.cfg.TimeoutGrace > 0,
			Concatenation: strings.Contains(sp.key.Name, " . "), Comment: "vigil blocks"}
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("add set %s: %w", sp.name, err)
		}
		sets[sp.name] = s
	}
	block := c.AddChain(&nftables.Chain{Name: chainBlock, Table: t})
	for _, exprs := range blockRules(sets) {
		c.AddRule(&nftables.Rule{Table: t, Chain: block, Exprs: exprs})
	}
	accept := nftables.ChainPolicyAccept
	for name, hook := range map[string]*nftables.ChainHook{"input": nftables.ChainHookInput, "forward": nftables.ChainHookForward, "output": nftables.ChainHookOutput} {
		ch := c.AddChain(&nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeFilter, Hooknum: hook,
			Priority: nftables.ChainPriorityRef(-10), Policy: &accept})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainBlock}}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("build nftables table %s: %w", b.cfg.Table, err)
	}
	return nil
}

// Field loaders into consecutive 32-bit registers (NFT_REG32_00 on).
type field int

const (
	fSrc field = iota
	fDst
	fProto
	fSport
	fDport
)

func load(f field, v6 bool, reg uint32) (expr.Any, uint32) {
	addrLen, src, dst := uint32(4), uint32(12), uint32(16)
	if v6 {
		addrLen, src, dst = 16, 8, 24
	}
	switch f {
	case fSrc:
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: src, Len: addrLen}, addrLen / 4
	case fDst:
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: dst, Len: addrLen}, addrLen / 4
	case fProto:
		return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}, 1
	case fSport:
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2}, 1
	default:
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}, 1
	}
}

// blockRules are the drop rules: each looks a concatenation of packet
// fields up in one set. Pairs and flows match both directions; a port
// matches on either end (the scope does not say which side serves).
func blockRules(sets map[string]*nftables.Set) [][]expr.Any {
	var rules [][]expr.Any
	lookup := func(set string, v6 bool, fields ...field) {
		fam := byte(unix.NFPROTO_IPV4)
		if v6 {
			fam = unix.NFPROTO_IPV6
		}
		exprs := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}},
		}
		reg := uint32(unix.NFT_REG32_00)
		for _, f := range fields {
			e, n := load(f, v6, reg)
			exprs = append(exprs, e)
			reg += n
		}
		l := &expr.Lookup{SourceRegister: unix.NFT_REG32_00, SetName: set}
		if s := sets[set]; s != nil {
			l.SetID = s.ID
		}
		exprs = append(exprs, l, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
		rules = append(rules, exprs)
	}
	for _, v6 := range []bool{false, true} {
		a, p, s, f := setA4, setP4, setS4, setF4
		if v6 {
			a, p, s, f = setA6, setP6, setS6, setF6
		}
		lookup(a, v6, fSrc)
		lookup(a, v6, fDst)
		lookup(p, v6, fSrc, fDst)
		lookup(p, v6, fDst, fSrc)
		for _, addr := range []field{fSrc, fDst} {
			for _, port := range []field{fSport, fDport} {
				lookup(s, v6, addr, fProto, port)
			}
		}
		for _, pair := range [][2]field{{fSrc, fDst}, {fDst, fSrc}} {
			for _, port := range []field{fSport, fDport} {
				lookup(f, v6, pair[0], pair[1], fProto, port)
			}
		}
	}
	// MAC: the source address of frames that arrive on Ethernet.
	mac := &expr.Lookup{SourceRegister: unix.NFT_REG32_00, SetName: setM}
	if s := sets[setM]; s != nil {
		mac.SetID = s.ID
	}
	rules = append(rules, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)},
		&expr.Payload{DestRegister: unix.NFT_REG32_00, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
		mac, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop},
	})
	return rules
}

var protos = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}

func protoName(p byte) string {
	for n, v := range protos {
		if v == p {
			return n
		}
	}
	return fmt.Sprintf("ip-%d", p)
}

func elementsOf(e enforce.Entry) ([]element, error) {
	els, err := elements(e.Scope)
	for i := range els {
		els[i].id = e.ID
	}
	return els, err
}

// elements encodes a scope as set elements: concatenated fields each
// padded to 4 bytes, as the kernel's registers hold them.
func elements(s events.BlockScope) ([]element, error) {
	if s.MAC != "" {
		hw, err := net.ParseMAC(s.MAC)
		if err != nil || len(hw) != 6 || s.IP != "" || s.PeerIP != "" {
			return nil, fmt.Errorf("mac scope %+v", s)
		}
		return []element{{set: setM, key: []byte(hw)}}, nil
	}
	a, err := netip.ParseAddr(s.IP)
	if err != nil {
		return nil, fmt.Errorf("address %q", s.IP)
	}
	a = a.Unmap()
	v6 := a.Is6()
	key := a.AsSlice()
	var peer []byte
	if s.PeerIP != "" {
		p, err := netip.ParseAddr(s.PeerIP)
		if err != nil || p.Unmap().Is6() != v6 {
			return nil, fmt.Errorf("peer address %q", s.PeerIP)
		}
		peer = p.Unmap().AsSlice()
	}
	pick := func(v4, v6name string) string {
		if v6 {
			return v6name
		}
		return v4
	}
	if s.Port == 0 {
		if s.Transport != "" {
			return nil, fmt.Errorf("transport %s without port", s.Transport)
		}
		if peer == nil {
			return []element{{set: pick(setA4, setA6), key: key}}, nil
		}
		return []element{{set: pick(setP4, setP6), key: append(key, peer...)}}, nil
	}
	transports := []string{s.Transport}
	if s.Transport == "" {
		transports = []string{"tcp", "udp"}
	}
	var out []element
	for _, tr := range transports {
		p, ok := protos[tr]
		if !ok {
			return nil, fmt.Errorf("transport %q", tr)
		}
		k := slices.Clone(key)
		set := pick(setS4, setS6)
		if peer != nil {
			k, set = append(k, peer...), pick(setF4, setF6)
		}
		k = append(k, p, 0, 0, 0, byte(s.Port>>8), byte(s.Port), 0, 0)
		out = append(out, element{set: set, key: k})
	}
	return out, nil
}

// decode reads an element key of a set back into a scope.
func decode(set string, key []byte) (events.BlockScope, error) {
	addr := func(b []byte) string {
		a, _ := netip.AddrFromSlice(b)
		return a.String()
	}
	n := 4
	if strings.HasSuffix(set, "6") {
		n = 16
	}
	var s events.BlockScope
	want := map[string]int{setA4: 4, setA6: 16, setP4: 8, setP6: 32, setS4: 12, setS6: 24, setF4: 16, setF6: 40, setM: 6}[set]
	if want == 0 {
		return s, fmt.Errorf("set %q is not one of Vigil's", set)
	}
	if len(key) != want {
		return s, fmt.Errorf("set %s: key of %d bytes, want %d", set, len(key), want)
	}
	switch set {
	case setM:
		s.MAC = net.HardwareAddr(key).String()
		return s, nil
	case setA4, setA6:
		s.IP = addr(key)
	case setP4, setP6:
		s.IP, s.PeerIP = addr(key[:n]), addr(key[n:])
	case setS4, setS6, setF4, setF6:
		// Registers are zero-padded: other padding is not Vigil's.
		tail := key[len(key)-8:]
		if tail[1]|tail[2]|tail[3]|tail[6]|tail[7] != 0 {
			return s, fmt.Errorf("set %s: key %x has non-zero padding", set, key)
		}
	}
	switch set {
	case setS4, setS6:
		s.IP = addr(key[:n])
		s.Transport, s.Port = protoName(key[n]), uint16(key[n+4])<<8|uint16(key[n+5])
	case setF4, setF6:
		s.IP, s.PeerIP = addr(key[:n]), addr(key[n:2*n])
		s.Transport, s.Port = protoName(key[2*n]), uint16(key[2*n+4])<<8|uint16(key[2*n+5])
	}
	return s, nil
}
