package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// File formats recognised by their magic number.
const (
	magicPcapMicro   = 0xa1b2c3d4
	magicPcapNano    = 0xa1b23c4d
	magicPcapngBlock = 0x0a0d0d0a
)

// ErrNotCapture is wrapped by the error for a file that is neither pcap
// nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// FileSource reads pcap and pcapng files (optionally gzip-compressed) in
// order, as one stream. A file that cannot be opened or that ends in the
// middle of a record yields an error naming the file, the packet number and
// the byte offset; every complete packet before it has been delivered, and
// the next call to Next continues with the next file.
type FileSource struct {
	paths []string
	next  int // index of the next file to open

	cur *openFile
}

var _ Source = (*FileSource)(nil)

// NewFileSource returns a source over paths. It opens nothing yet.
func NewFileSource(paths []string) (*FileSource, error) {
	if len(paths) == 0 {
		return nil, errors.New("file source: no files")
	}
	return &FileSource{paths: append([]string(nil), paths...)}, nil
}

// Name implements Source.
func (s *FileSource) Name() string {
	if s.cur != nil {
		return s.cur.path
	}
	if s.next > 0 {
		return s.paths[s.next-1]
	}
	return s.paths[0]
}

// Next implements Source.
func (s *FileSource) Next(p *Packet) error {
	for {
		if s.cur == nil {
			if s.next >= len(s.paths) {
				return io.EOF
			}
			path := s.paths[s.next]
			s.next++
			f, err := openCaptureFile(path)
			if err != nil {
				return err
			}
			s.cur = f
		}
		err := s.cur.read(p)
		if err == nil {
			return nil
		}
		s.cur.close()
		s.cur = nil
		if err != io.EOF {
			return err
		}
	}
}

// Close implements Source.
func (s *FileSource) Close() error {
	if s.cur != nil {
		err := s.cur.close()
		s.cur = nil
		return err
	}
	return nil
}

// packetReader is what pcapgo's two readers have in common.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

type openFile struct {
	path    string
	file    *os.File
	gz      *gzip.Reader
	counter *countingReader
	buf     *bufio.Reader
	reader  packetReader
	ng      bool
	link    layers.LinkType
	number  uint64
	// offset is where the last complete record ended (in the uncompressed
	// stream for gzip files).
	offset int64
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readerBufferSize is larger than pcapgo's own bufio size, so pcapgo reuses
// our bufio.Reader instead of wrapping it, and offsets stay exact.
const readerBufferSize = 1 << 16

func openCaptureFile(path string) (*openFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	// A plain file is read through one buffer, counted below it; a gzip
	// file is counted above the decompressor, so offsets are always in the
	// uncompressed stream.
	of := &openFile{path: path, file: f, counter: &countingReader{r: f}}
	of.buf = bufio.NewReaderSize(of.counter, readerBufferSize)
	if head, _ := of.buf.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(of.buf)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open capture %s: gzip: %w", path, err)
		}
		of.gz = gz
		of.counter = &countingReader{r: gz}
		of.buf = bufio.NewReaderSize(of.counter, readerBufferSize)
	}

	head, _ := of.buf.Peek(4) // a short head is reported below
	if len(head) < 4 {
		of.close()
		if len(head) == 0 {
			return nil, fmt.Errorf("open capture %s: %w (empty file)", path, ErrNotCapture)
		}
		return nil, fmt.Errorf("open capture %s: %w (only %d bytes)", path, ErrNotCapture, len(head))
	}
	le := binary.LittleEndian.Uint32(head)
	be := binary.BigEndian.Uint32(head)
	switch {
	case le == magicPcapMicro || be == magicPcapMicro || le == magicPcapNano || be == magicPcapNano:
		header, _ := of.buf.Peek(24)
		header = append([]byte(nil), header...)
		pr, err := pcapgo.NewReader(of.buf)
		if err != nil {
			of.close()
			return nil, fmt.Errorf("open capture %s: pcap header: %w", path, err)
		}
		// pcapgo reads the header, pcapReader the records (pcapread.go).
		of.reader, of.link = newPcapReader(of.buf, header, pr.Snaplen()), pr.LinkType()
	case le == magicPcapngBlock:
		nr, err := pcapgo.NewNgReader(of.buf, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			of.close()
			return nil, fmt.Errorf("open capture %s: pcapng section header: %w", path, err)
		}
		of.reader, of.link, of.ng = nr, nr.LinkType(), true
	default:
		of.close()
		return nil, fmt.Errorf("open capture %s: %w (magic 0x%08x)", path, ErrNotCapture, be)
	}
	of.offset = of.consumed()
	return of, nil
}

func (f *openFile) consumed() int64 { return f.counter.n - int64(f.buf.Buffered()) }

func (f *openFile) read(p *Packet) (err error) {
	defer func() {
		// pcapgo is fuzzed upstream, but a capture file is untrusted input:
		// a panic in a reader is reported as a broken file, not a crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("read capture %s: packet %d at offset %d: reader failure: %v", f.path, f.number+1, f.offset, r)
		}
	}()
	data, ci, err := f.reader.ZeroCopyReadPacketData()
	if err != nil {
		if err == io.EOF {
			return io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("read capture %s: truncated: packet %d at offset %d is incomplete: %w", f.path, f.number+1, f.offset, err)
		}
		return fmt.Errorf("read capture %s: packet %d at offset %d: %w", f.path, f.number+1, f.offset, err)
	}
	f.number++
	f.offset = f.consumed()
	link := f.link
	if f.ng && len(ci.AncillaryData) > 0 {
		if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			link = lt
		}
	}
	// Field by field: copying a whole Packet runs the collector's write
	// barrier over all its pointer slots while a collection is marking.
	p.Data, p.LinkType, p.Number, p.VLAN = data, link, f.number, 0
	p.Info.Timestamp, p.Info.CaptureLength, p.Info.Length, p.Info.InterfaceIndex = ci.Timestamp, ci.CaptureLength, ci.Length, ci.InterfaceIndex
	if p.Origin != f.path {
		p.Origin = f.path
	}
	if p.Info.AncillaryData != nil {
		p.Info.AncillaryData = nil
	}
	return nil
}

func (f *openFile) close() error {
	if f.gz != nil {
		f.gz.Close()
	}
	return f.file.Close()
}
