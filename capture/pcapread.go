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
	order      binary.ByteOrder
	nanoFactor uint32
	snaplen    uint32
	big        []byte // records larger than the bufio buffer
}

// pcapgo's bound on a record length that does not exceed the snap length
// (its eagerReadMax).
const pcapEagerMax = 262144

// newPcapReader takes the header that pcapgo.NewReader has just read from
// r, the 24 bytes given.
func newPcapReader(r *bufio.Reader, header []byte, snaplen uint32) *pcapReader {
	p := &pcapReader{r: r, snaplen: snaplen, order: binary.LittleEndian, nanoFactor: 1000}
	switch binary.LittleEndian.Uint32(header[0:4]) {
	case magicPcapNano:
		p.nanoFactor = 1
	case 0x4d3cb2a1: // nanoseconds, big-endian
		p.order, p.nanoFactor = binary.BigEndian, 1
	case 0xd4c3b2a1: // microseconds, big-endian
		p.order = binary.BigEndian
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

func (p *pcapReader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	h, err := p.r.Peek(16)
	if len(h) < 16 {
		p.r.Discard(len(h))
		return nil, ci, readFullErr(len(h), err)
	}
	ci.Timestamp = time.Unix(int64(p.order.Uint32(h[0:4])), int64(p.order.Uint32(h[4:8])*p.nanoFactor)).UTC()
	ci.CaptureLength = int(p.order.Uint32(h[8:12]))
	ci.Length = int(p.order.Uint32(h[12:16]))
	p.r.Discard(16)
	if ci.CaptureLength > max(int(p.snaplen), pcapEagerMax) {
		return nil, ci, fmt.Errorf("capture length exceeds snap length: %d > %d", ci.CaptureLength, p.snaplen)
	}
	if ci.CaptureLength > ci.Length {
		return nil, ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	}
	n := ci.CaptureLength
	if n <= p.r.Size() {
		data, err := p.r.Peek(n)
		p.r.Discard(len(data))
		if len(data) < n {
			return data, ci, readFullErr(len(data), err)
		}
		return data, ci, nil
	}
	if n <= pcapEagerMax {
		if cap(p.big) < n {
			p.big = make([]byte, n)
		}
		data := p.big[:n]
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
