package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
)

// pcapReader reads the records of a classic pcap file straight out of the
// bufio.Reader's buffer: a record that fits in it is returned in place,
// not copied into a packet buffer as pcapgo.Reader does (its reads and
// copies were a twelfth of the sensor's time). It gives what
// pcapgo.Reader.ZeroCopyReadPacketData gives, data, capture info and
// errors alike (TestPcapReaderIsPcapgo, FuzzPcapReader): the file header
// is still read by pcapgo.NewReader, and only the records here. Data is
// valid until the next call.
type pcapReader struct {
	r          *bufio.Reader
	big        bool // big-endian (a field, not a binary.ByteOrder: no interface call per field)
	nanoFactor uint32
	snaplen    uint32
	large      []byte // records larger than the bufio buffer
}

// pcapgo's bound on a record length that does not exceed the snap length
// (its eagerReadMax).
const pcapEagerMax = 262144

// newPcapReader takes the header that pcapgo.NewReader has just read from
// r, the 24 bytes given.
func newPcapReader(r *bufio.Reader, header []byte, snaplen uint32) *pcapReader {
	p := &pcapReader{r: r, snaplen: snaplen, nanoFactor: 1000}
	switch binary.LittleEndian.Uint32(header[0:4]) {
	case magicPcapNano:
		p.nanoFactor = 1
	case 0x4d3cb2a1: // nanoseconds, big-endian
		p.big, p.nanoFactor = true, 1
	case 0xd4c3b2a1: // microseconds, big-endian
		p.big = true
	}
	return p
}

// readFullErr is the error io.ReadFull returns after reading n of the
// bytes it wanted, the reader having failed with err.
func readFullErr(n int, err error) error {
	if n > 0 && err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ZeroCopyReadPacketData returns the next record. Its results are named
// so that the capture info is written in place: returning a local
// CaptureInfo copied it through the stack in overlapping 16-byte blocks on
// every return path, which stalled (store-to-load forwarding fails; 8% of
// the reading time).
func (p *pcapReader) ZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	h, err := p.r.Peek(16)
	if len(h) < 16 {
		p.r.Discard(len(h))
		return nil, ci, readFullErr(len(h), err)
	}
	var sec, frac, caplen, length uint32
	if p.big {
		sec, frac = binary.BigEndian.Uint32(h[0:4]), binary.BigEndian.Uint32(h[4:8])
		caplen, length = binary.BigEndian.Uint32(h[8:12]), binary.BigEndian.Uint32(h[12:16])
	} else {
		sec, frac = binary.LittleEndian.Uint32(h[0:4]), binary.LittleEndian.Uint32(h[4:8])
		caplen, length = binary.LittleEndian.Uint32(h[8:12]), binary.LittleEndian.Uint32(h[12:16])
	}
	ci.Timestamp = time.Unix(int64(sec), int64(frac*p.nanoFactor)).UTC()
	ci.CaptureLength, ci.Length = int(caplen), int(length)
	n := ci.CaptureLength
	if n > max(int(p.snaplen), pcapEagerMax) {
		p.r.Discard(16)
		return nil, ci, fmt.Errorf("capture length exceeds snap length: %d > %d", ci.CaptureLength, p.snaplen)
	}
	if n > ci.Length {
		p.r.Discard(16)
		return nil, ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	}
	if 16+n <= p.r.Size() {
		// The usual record, header and data at once: one Peek and one
		// Discard fewer.
		rec, err := p.r.Peek(16 + n)
		p.r.Discard(len(rec))
		data = rec[16:]
		if len(data) < n {
			return data, ci, readFullErr(len(data), err)
		}
		return data, ci, nil
	}
	p.r.Discard(16)
	if n <= p.r.Size() {
		data, err := p.r.Peek(n)
		p.r.Discard(len(data))
		if len(data) < n {
			return data, ci, readFullErr(len(data), err)
		}
		return data, ci, nil
	}
	if n <= pcapEagerMax {
		if cap(p.large) < n {
			p.large = make([]byte, n)
		}
		data := p.large[:n]
		_, err := io.ReadFull(p.r, data)
		return data, ci, err
	}
	// Above pcapgo's bound the buffer grows with the bytes read, as in
	// pcapgo: a short file cannot make the reader allocate its length.
	var buf bytes.Buffer
	buf.Grow(pcapEagerMax)
	m, err := io.CopyN(&buf, p.r, int64(n))
	if err == io.EOF && m > 0 {
		err = io.ErrUnexpectedEOF
	}
	return buf.Bytes(), ci, err
}
