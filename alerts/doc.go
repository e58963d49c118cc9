// Package alerts will own the alert lifecycle (open, acknowledged,
// resolved), de-duplication of alerts into counted incidents, suppressions
// that never drop data, and the SOC outputs (NATS subjects, syslog/CEF,
// webhooks, OCSF).
//
// Not built yet (issue 5). Today the policy engine publishes alert events
// on the VIGIL_V1_ALERTS stream (subjects vigil.v1.alert.p<N>), which is
// already the stream a SOC can consume.
package alerts
