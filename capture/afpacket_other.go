//go:build !linux

package capture

import (
	"errors"
	"time"

	"golang.org/x/net/bpf"
)

func openLive(iface string, _ int, _ uint16, _ []bpf.RawInstruction, _ time.Duration) (LiveSource, error) {
	return nil, errors.New("live capture on " + iface + " needs Linux (AF_PACKET)")
}
