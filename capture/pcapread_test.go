package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vigil-health/vigil/internal/testshared"
)

// pcapReaders opens a pcap file held in memory with pcapgo and with
// pcapReader, each through a bufio.Reader of bufSize bytes.
func pcapReaders(file []byte, bufSize int) (theirs, ours packetReader, err error) {
	var rs [2]packetReader
	for i := range rs {
		br := bufio.NewReaderSize(bytes.NewReader(file), bufSize)
		header, _ := br.Peek(24)
		header = append([]byte(nil), header...)
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		rs[i] = pr
		if i == 1 {
			rs[i] = newPcapReader(br, header, pr.Snaplen())
		}
	}
	return rs[0], rs[1], nil
}

// comparePcapReaders reads the file with both readers in step and fails
// at the first record (or error) where they differ.
func comparePcapReaders(t *testing.T, name string, file []byte, bufSize int) {
	t.Helper()
	theirs, ours, err := pcapReaders(file, bufSize)
	if err != nil {
		return // the header: pcapgo's alone
	}
	for i := 1; ; i++ {
		want, wci, werr := theirs.ZeroCopyReadPacketData()
		got, gci, gerr := ours.ZeroCopyReadPacketData()
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || gerr != nil && werr != nil && fmt.Sprintf("%T", gerr) != fmt.Sprintf("%T", werr) {
			t.Fatalf("%s: record %d: error %v, pcapgo %v", name, i, gerr, werr)
		}
		if werr != nil {
			return
		}
		if !gci.Timestamp.Equal(wci.Timestamp) || gci.Timestamp.Location() != wci.Timestamp.Location() ||
			gci.CaptureLength != wci.CaptureLength || gci.Length != wci.Length || !bytes.Equal(got, want) {
			t.Fatalf("%s: record %d: %+v %x\npcapgo %+v %x", name, i, gci, got[:min(len(got), 64)], wci, want[:min(len(want), 64)])
		}
	}
}

// pcapFile builds a little-endian microsecond pcap file with the given
// snap length and records (caplen, origlen, data).
func pcapFile(snaplen uint32, magic uint32, recs ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, magic)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, snaplen)
	b = binary.LittleEndian.AppendUint32(b, 1)
	for i, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, uint32(1700000000+i))
		b = binary.LittleEndian.AppendUint32(b, uint32(999999+i*7919))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r)+i%3))
		b = append(b, r...)
	}
	return b
}

// TestPcapReaderIsPcapgo: on every classic pcap of the shared corpus, on
// synthetic files with records larger than the buffer, and on random
// truncations and corruptions of them, pcapReader gives exactly what
// pcapgo gives: timestamps, lengths, data and errors.
func TestPcapReaderIsPcapgo(t *testing.T) {
	var files [][]byte
	big := bytes.Repeat([]byte{0xab}, 70000)
	for _, magic := range []uint32{magicPcapMicro, magicPcapNano, 0xd4c3b2a1, 0x4d3cb2a1} {
		files = append(files, pcapFile(65535, magic, []byte("short"), nil, big[:5000], big, big[:300000%len(big)]))
		// Around the 4096-byte buffer: header and data fit together, only
		// the data fits, neither fits.
		files = append(files, pcapFile(65535, magic, big[:4080], big[:4081], big[:4090], big[:4096], big[:4097], []byte("end")))
	}
	files = append(files, pcapFile(300000, magicPcapMicro, bytes.Repeat([]byte{1}, 280000), []byte("x")))
	for _, f := range files {
		for _, size := range []int{4096, readerBufferSize} {
			comparePcapReaders(t, "synthetic", f, size)
		}
	}
	r := rand.New(rand.NewPCG(11, 12))
	for i, f := range files {
		for range 300 {
			g := append([]byte(nil), f...)
			for range r.IntN(3) {
				g[24+r.IntN(len(g)-24)] = byte(r.Uint32())
			}
			g = g[:24+r.IntN(len(g)-23)]
			comparePcapReaders(t, fmt.Sprintf("synthetic %d mutated", i), g, 4096)
		}
	}

	dir := testshared.Pcaps(t)
	n := 0
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".pcap") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if len(data) < 4 || (binary.LittleEndian.Uint32(data) != magicPcapMicro && binary.BigEndian.Uint32(data) != magicPcapMicro &&
			binary.LittleEndian.Uint32(data) != magicPcapNano && binary.BigEndian.Uint32(data) != magicPcapNano) {
			return nil
		}
		n++
		comparePcapReaders(t, path, data, readerBufferSize)
		if len(data) > 200 {
			comparePcapReaders(t, path+" truncated", data[:len(data)-1-r.IntN(100)], readerBufferSize)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no classic pcap file in the shared corpus")
	}
}

// FuzzPcapReader compares pcapReader with pcapgo on any file.
func FuzzPcapReader(f *testing.F) {
	// Small seeds: the fuzzer minimises every new input, for up to a
	// minute each when inputs are kilobytes. Records larger than the
	// buffer are TestPcapReaderIsPcapgo's.
	f.Add(pcapFile(65535, magicPcapMicro, []byte("short"), nil, make([]byte, 60)))
	f.Add(pcapFile(100, magicPcapNano, []byte("abc")))
	f.Add(pcapFile(300000, 0xd4c3b2a1, make([]byte, 40)))
	f.Fuzz(func(t *testing.T, file []byte) {
		comparePcapReaders(t, "fuzz", file, 4096)
	})
}
