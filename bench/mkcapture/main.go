// Command mkcapture builds the benchmark corpus of bench-capture.sh: one
// large Ethernet pcap made of the shared captures (MANIFEST.tsv order),
// each file shifted in time so that it starts just after the previous one
// ends, the whole set repeated until it holds at least -min-packets
// packets. Timestamps never go back: the packets of a file are put in time
// order (a stable sort; a few shared captures are merges out of order),
// as a live sensor would see them. The corpus starts on 2025-01-01 UTC,
// and a silence longer than maxSilence inside a file (some captures span
// years) is shortened to maxSilence, longer than every flow timeout, so
// that the repetitions fit in the 32-bit seconds of pcap. Repetition r (from 0) XORs r into one byte of every unicast IP
// address (the third octet of IPv4, byte 13 of IPv6), so its flows are new
// flows, and fixes the IP, TCP, UDP and ICMPv6 checksums incrementally.
//
// The corpus is cached: its name carries a hash of the inputs (manifest,
// size and modification time of every capture, -min-packets, -salt), it is
// rebuilt only when that changes, and older corpora of the same size class
// are removed. The path and the packet count are printed on stdout,
// separated by a tab.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// gap separates the last packet of a file from the first of the next one.
const gap = time.Millisecond

// maxSilence is the longest time kept between two packets of a file.
const maxSilence = 10 * time.Minute

// corpusStart is the time of the corpus's first packet.
var corpusStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// maxRepetitions is how many distinct perturbations one byte gives.
const maxRepetitions = 256

func main() {
	log.SetFlags(0)
	log.SetPrefix("mkcapture: ")
	pcaps := flag.String("pcaps", "../shared/pcaps", "shared capture directory (holds MANIFEST.tsv)")
	cache := flag.String("cache", defaultCache(), "directory of the cached corpus")
	minPackets := flag.Int("min-packets", 1_500_000, "repeat the captures until the corpus holds at least this many packets")
	salt := flag.String("salt", "", "extra cache key input (bench-capture.sh passes a hash of this program's source)")
	flag.Parse()

	files, key, err := inputs(*pcaps, *minPackets, *salt)
	if err != nil {
		log.Fatal(err)
	}
	prefix := fmt.Sprintf("corpus-m%d-", *minPackets)
	out := filepath.Join(*cache, prefix+key[:16]+".pcap")
	if n, err := readMeta(out); err == nil {
		fmt.Printf("%s\t%d\n", out, n)
		return
	}
	if err := os.MkdirAll(*cache, 0o755); err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	st, err := build(out, files, *minPackets)
	if err != nil {
		log.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(*cache, prefix+"*.pcap*"))
	for _, p := range old {
		if p != out && p != out+".meta" {
			os.Remove(p)
		}
	}
	log.Printf("%d captures used, %d skipped (not Ethernet or unreadable); %d packets per repetition, %d repetitions: %d packets, %.0f MB, in %s",
		st.files, st.skipped, st.perRep, st.reps, st.packets, float64(st.bytes)/1e6, time.Since(start).Round(time.Millisecond))
	fmt.Printf("%s\t%d\n", out, st.packets)
}

func defaultCache() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "vigil-bench")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "vigil-bench")
	}
	return filepath.Join(os.TempDir(), "vigil-bench")
}

// inputs lists the captures of the manifest and hashes everything the
// corpus depends on.
func inputs(dir string, minPackets int, salt string) ([]string, string, error) {
	manifest, err := os.ReadFile(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		return nil, "", fmt.Errorf("read manifest: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "mkcapture\x00%d\x00%s\x00", minPackets, salt)
	h.Write(manifest)
	var files []string
	for i, line := range strings.Split(string(manifest), "\n") {
		rel, _, _ := strings.Cut(line, "\t")
		if i == 0 || rel == "" {
			continue // header
		}
		p := filepath.Join(dir, rel)
		st, err := os.Stat(p)
		if err != nil {
			return nil, "", fmt.Errorf("manifest line %d: %w", i+1, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", rel, st.Size(), st.ModTime().UnixNano())
		files = append(files, p)
	}
	if len(files) == 0 {
		return nil, "", errors.New("manifest lists no capture")
	}
	return files, hex.EncodeToString(h.Sum(nil)), nil
}

// readMeta returns the packet count of a complete cached corpus.
func readMeta(path string) (int, error) {
	b, err := os.ReadFile(path + ".meta")
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

type packet struct {
	ci   gopacket.CaptureInfo
	data []byte
}

type stats struct {
	files, skipped, perRep, reps, packets int
	bytes                                 int64
}

func build(out string, paths []string, minPackets int) (stats, error) {
	var st stats
	var corpus [][]packet
	for _, p := range paths {
		pkts, err := readEthernet(p)
		if err != nil || len(pkts) == 0 {
			if err != nil {
				log.Printf("skip %s: %v", p, err)
			}
			st.skipped++
			continue
		}
		st.files++
		st.perRep += len(pkts)
		corpus = append(corpus, pkts)
	}
	if st.perRep == 0 {
		return st, errors.New("no Ethernet packet in the captures")
	}
	st.reps = (minPackets + st.perRep - 1) / st.perRep
	st.reps = max(st.reps, 1)
	if st.reps > maxRepetitions {
		return st, fmt.Errorf("%d repetitions needed, at most %d are distinct", st.reps, maxRepetitions)
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), ".corpus-*.tmp")
	if err != nil {
		return st, err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(1<<18, layers.LinkTypeEthernet); err != nil {
		return st, err
	}
	cursor := corpusStart
	buf := make([]byte, 0, 1<<18)
	for r := range st.reps {
		for _, pkts := range corpus {
			at := cursor
			for i, p := range pkts {
				if i > 0 {
					at = at.Add(min(p.ci.Timestamp.Sub(pkts[i-1].ci.Timestamp), maxSilence))
				}
				ci := p.ci
				ci.Timestamp = at
				buf = append(buf[:0], p.data...)
				perturb(buf, byte(r))
				if err := w.WritePacket(ci, buf); err != nil {
					return st, err
				}
				st.packets++
				st.bytes += int64(16 + len(buf))
			}
			cursor = at.Add(gap)
		}
	}
	if err := bw.Flush(); err != nil {
		return st, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return st, err
	}
	if err := tmp.Close(); err != nil {
		return st, err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return st, err
	}
	return st, os.WriteFile(out+".meta", []byte(strconv.Itoa(st.packets)+"\n"), 0o644)
}

// readEthernet returns the Ethernet packets of a pcap or pcapng file
// (gzip or not), up to the first damaged record.
func readEthernet(path string) ([]packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if head, _ := br.Peek(2); bytes.Equal(head, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer gz.Close()
		r = bufio.NewReader(gz)
	}
	head, err := r.(*bufio.Reader).Peek(4)
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	type reader interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var pr reader
	link := layers.LinkTypeNull
	ng := false
	switch binary.LittleEndian.Uint32(head) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		rd, err := pcapgo.NewReader(r)
		if err != nil {
			return nil, err
		}
		pr, link = rd, rd.LinkType()
	case 0x0a0d0d0a:
		rd, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return nil, err
		}
		pr, link, ng = rd, rd.LinkType(), true
	default:
		return nil, fmt.Errorf("not a pcap or pcapng file (magic % x)", head)
	}
	var pkts []packet
	for {
		data, ci, err := pr.ReadPacketData()
		if err != nil {
			break // end of file, or a damaged record: keep what came before
		}
		lt := link
		if ng && len(ci.AncillaryData) > 0 {
			if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				lt = l
			}
		}
		if lt != layers.LinkTypeEthernet || len(data) < 14 {
			continue
		}
		ci.AncillaryData, ci.InterfaceIndex = nil, 0
		ci.CaptureLength = len(data)
		ci.Length = max(ci.Length, ci.CaptureLength)
		pkts = append(pkts, packet{ci: ci, data: data})
	}
	slices.SortStableFunc(pkts, func(a, b packet) int { return a.ci.Timestamp.Compare(b.ci.Timestamp) })
	return pkts, nil
}

// perturb XORs k into one byte of each unicast address of the IP header
// of an Ethernet frame and fixes the checksums that cover the addresses.
func perturb(frame []byte, k byte) {
	if k == 0 {
		return
	}
	off, etype := 12, uint16(0)
	for {
		if len(frame) < off+2 {
			return
		}
		etype = binary.BigEndian.Uint16(frame[off:])
		if etype != 0x8100 && etype != 0x88a8 && etype != 0x9100 {
			break
		}
		off += 4
	}
	ip := frame[off+2:]
	switch etype {
	case 0x0800:
		perturb4(ip, k)
	case 0x86dd:
		perturb6(ip, k)
	}
}

func perturb4(ip []byte, k byte) {
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || len(ip) < ihl {
		return
	}
	var delta csumDelta
	changed := false
	for _, a := range [][]byte{ip[12:16], ip[16:20]} {
		if !unicast4(a) {
			continue
		}
		old := binary.BigEndian.Uint16(a[2:])
		a[2] ^= k
		delta.change(old, binary.BigEndian.Uint16(a[2:]))
		changed = true
	}
	if !changed {
		return
	}
	delta.apply(ip[10:12], false)
	if binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0 {
		return // a later fragment carries no transport header
	}
	l4 := ip[ihl:]
	switch ip[9] {
	case 6:
		if len(l4) >= 18 {
			delta.apply(l4[16:18], false)
		}
	case 17:
		if len(l4) >= 8 {
			delta.apply(l4[6:8], true)
		}
	}
}

func unicast4(a []byte) bool {
	return a[0] != 0 && a[0] != 127 && a[0] < 224
}

func perturb6(ip []byte, k byte) {
	if len(ip) < 40 || ip[0]>>4 != 6 {
		return
	}
	var delta csumDelta
	changed := false
	for _, a := range [][]byte{ip[8:24], ip[24:40]} {
		if !unicast6(a) {
			continue
		}
		old := binary.BigEndian.Uint16(a[12:])
		a[13] ^= k
		delta.change(old, binary.BigEndian.Uint16(a[12:]))
		changed = true
	}
	if !changed {
		return
	}
	next, off := ip[6], 40
	for {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(ip) < off+2 {
				return
			}
			next, off = ip[off], off+(int(ip[off+1])+1)*8
			continue
		case 44: // fragment
			if len(ip) < off+8 || binary.BigEndian.Uint16(ip[off+2:])&0xfff8 != 0 {
				return
			}
			next, off = ip[off], off+8
			continue
		}
		break
	}
	if off > len(ip) {
		return
	}
	l4 := ip[off:]
	switch next {
	case 6:
		if len(l4) >= 18 {
			delta.apply(l4[16:18], false)
		}
	case 17:
		if len(l4) >= 8 {
			delta.apply(l4[6:8], false)
		}
	case 58:
		if len(l4) >= 4 {
			delta.apply(l4[2:4], false)
		}
	}
}

func unicast6(a []byte) bool {
	if a[0] == 0xff {
		return false // multicast
	}
	var zero [15]byte
	return !bytes.Equal(a[:15], zero[:]) // ::, ::1
}

// csumDelta accumulates 16-bit word changes in one's complement (RFC 1624).
type csumDelta uint32

func (d *csumDelta) change(old, new uint16) {
	s := uint32(*d) + uint32(^old) + uint32(new)
	*d = csumDelta(fold(s))
}

// apply updates the checksum in c; optional checksums (UDP over IPv4)
// that are zero stay zero.
func (d csumDelta) apply(c []byte, optional bool) {
	hc := binary.BigEndian.Uint16(c)
	if optional && hc == 0 {
		return
	}
	s := uint32(^hc) + uint32(d)
	n := ^uint16(fold(s))
	if optional && n == 0 {
		n = 0xffff
	}
	binary.BigEndian.PutUint16(c, n)
}

func fold(s uint32) uint32 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return s
}
