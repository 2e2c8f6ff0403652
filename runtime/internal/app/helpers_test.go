package app

import "github.com/switchboard-dev/switchboard/runtime/internal/inbox"

func storeInbound(id string) inbox.Inbound {
	return inbox.Inbound{Channel: "api", Identifier: "x@y.example", ExternalID: id, Body: "hello"}
}
