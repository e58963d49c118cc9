package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vigil-health/vigil/internal/testshared"
)

func writePcap(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		data := tcpFrame(t, "10.0.0.1", "10.0.0.2", 40000, 80, tcpSYN, uint32(i), 0, nil)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestFileSourceErrors(t *testing.T) {
	dir := t.TempDir()
	good := writePcap(t, 3)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name    string
		data    []byte
		packets int
		errHas  []string
	}{
		{"text.txt", []byte("hello world\n"), 0, []string{"open capture", "text.txt", "not a pcap or pcapng file (magic 0x68656c6c)"}},
		{"empty.pcap", nil, 0, []string{"empty.pcap", "empty file"}},
		{"good.pcap", good, 3, nil},
		// Cut in the middle of the third record: two packets survive.
		{"cut.pcap", good[:len(good)-10], 2, []string{"cut.pcap", "truncated", "packet 3 at offset 176"}}, // 24 + 2*(16+60): frames padded to 60 bytes,
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := NewFileSource([]string{write(c.name, c.data)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { src.Close() })
			var p Packet
			n := 0
			var got error
			for {
				err := src.Next(&p)
				if err == io.EOF {
					break
				}
				if err != nil {
					got = err
					continue
				}
				n++
			}
			if n != c.packets {
				t.Errorf("packets = %d, want %d", n, c.packets)
			}
			if c.errHas == nil {
				if got != nil {
					t.Fatalf("unexpected error %v", got)
				}
				return
			}
			if got == nil {
				t.Fatal("no error")
			}
			for _, want := range c.errHas {
				if !strings.Contains(got.Error(), want) {
					t.Errorf("error %q lacks %q", got, want)
				}
			}
			if c.name == "text.txt" && !errors.Is(got, ErrNotCapture) {
				t.Errorf("error %v is not ErrNotCapture", got)
			}
		})
	}
	// Several files are one stream, and a broken file in the middle loses
	// nothing of the others.
	src, _ := NewFileSource([]string{write("a.pcap", good), write("b.txt", []byte("nope")), write("c.pcap", good)})
	var p Packet
	n, errs := 0, 0
	for {
		err := src.Next(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			errs++
			continue
		}
		n++
	}
	if n != 6 || errs != 1 {
		t.Errorf("stream: %d packets, %d errors; want 6 and 1", n, errs)
	}
}

// TestManifestReadable reads every capture of MANIFEST.tsv through the
// decoder and flow table: none may panic, and every one reads to its end
// (the corpus holds no truncated or unsupported file today).
func TestManifestReadable(t *testing.T) {
	dir := testshared.Pcaps(t)
	b, err := os.ReadFile(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	files, failed := 0, 0
	for i, line := range strings.Split(string(b), "\n") {
		cols := strings.Split(line, "\t")
		if i == 0 || len(cols) < 2 || cols[0] == "" {
			continue
		}
		files++
		_, err := flowsOf(t, defaultTableConfig(), filepath.Join(dir, cols[0]))
		if err != nil {
			// Every capture of the corpus reads to its end today: an error
			// is a regression of the reader, not a property of the file.
			failed++
			t.Errorf("%s: %v", cols[0], err)
		}
	}
	t.Logf("%d captures read, %d with errors", files, failed)
	if files == 0 {
		t.Fatal("no capture in MANIFEST.tsv")
	}
}
