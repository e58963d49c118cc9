// Package events is the shared language of Vigil: the versioned event
// types every engine produces and consumes, their JSON codec, the NATS
// subjects and JetStream streams they travel on, and the bus component that
// runs an embedded NATS server or connects to an external one.
//
// Every other domain package may import events; events imports none of
// them. A breaking change to a body is a new version beside v1, never an
// edit of v1.
package events
