package store

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-health/vigil/events"
)

// Open connects to the configured ClickHouse over the native protocol,
// creates the database when it is missing, and returns a connection pool
// whose queries run in that database. ClickHouse 18.16 speaks only the
// native protocol to clickhouse-go, so HTTP is not offered.
func Open(ctx context.Context, cfg Configuration) (driver.Conn, error) {
	if !cfg.Enabled() {
		return nil, errors.New("store: no clickhouse address configured")
	}
	boot, err := open(cfg, "default")
	if err != nil {
		return nil, err
	}
	err = boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database)
	boot.Close()
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", cfg.Database, err)
	}
	conn, err := open(cfg, cfg.Database)
	if err != nil {
		return nil, err
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %v: %w", cfg.Addresses, err)
	}
	return conn, nil
}

func open(cfg Configuration, database string) (driver.Conn, error) {
	password := cfg.Password
	if cfg.PasswordFile != "" {
		var err error
		if password, err = events.ReadSecretFile(cfg.PasswordFile); err != nil {
			return nil, fmt.Errorf("store password_file: %w", err)
		}
	}
	tlsConfig, err := cfg.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("store %w", err)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		TLS:          tlsConfig,
		Addr:         cfg.Addresses,
		Protocol:     clickhouse.Native,
		Auth:         clickhouse.Auth{Database: database, Username: cfg.Username, Password: password},
		DialTimeout:  cfg.DialTimeout,
		ReadTimeout:  cfg.ReadTimeout,
		Compression:  &clickhouse.Compression{Method: compressionMethod(cfg)},
		MaxOpenConns: 8,
		MaxIdleConns: 4,
		ClientInfo:   clickhouse.ClientInfo{Products: []struct{ Name, Version string }{{Name: "vigil", Version: "v1"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %v: %w", cfg.Addresses, err)
	}
	return conn, nil
}

// compressionMethod resolves Configuration.Compression: "auto" compresses
// (LZ4, which every server version has) unless every address is on this
// machine.
func compressionMethod(cfg Configuration) clickhouse.CompressionMethod {
	switch cfg.Compression {
	case "none":
		return clickhouse.CompressionNone
	case "lz4":
		return clickhouse.CompressionLZ4
	}
	for _, a := range cfg.Addresses {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return clickhouse.CompressionLZ4
		}
	}
	return clickhouse.CompressionNone
}

// exceptionCode returns the ClickHouse error code of a server exception,
// or 0 when err did not come from the server (network, context, client).
func exceptionCode(err error) int32 {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return ex.Code
	}
	return 0
}
