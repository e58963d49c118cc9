package synth_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-health/vigil/internal/synth"
)

func TestPeek(t *testing.T) {
	t0 := time.Now()
	s := synth.Ward(synth.DefaultOptions())
	d := time.Since(t0)
	var b bytes.Buffer
	if err := s.WritePCAP(&b); err != nil {
		t.Fatal(err)
	}
	fmt.Println(len(s.Packets), b.Len(), d)
	for _, a := range s.Anomalies {
		fmt.Println(a.Kind, a.Device, a.Peer, len(a.Ports), a.Start, a.End)
	}
	s.WritePCAPFile("/tmp/ward.pcap")
}
