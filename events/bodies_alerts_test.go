package events

// The alert_state examples of docs/events.md are checked like the others.
func init() { strictIDs[KindAlertState] = strictID[AlertState] }
