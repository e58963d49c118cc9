//go:build !linux

// Package nft is the nftables enforcement point; nftables exists on Linux
// only, so elsewhere New refuses to build the backend.
package nft

import (
	"errors"
	"time"

	"github.com/vigil-health/vigil/enforce"
)

// Backend is not available outside Linux.
type Backend struct{ enforce.Backend }

// New reports that nftables needs Linux.
func New(enforce.NFTablesConfiguration, func() time.Time) (*Backend, error) {
	return nil, errors.New("nftables: enforcement through nftables needs Linux")
}
